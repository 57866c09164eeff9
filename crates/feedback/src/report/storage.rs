//! The roll-up tables, their migration, the batched upserts the consumers make and the sums the
//! reports read.
//!
//! - `report_ledger` (tenant, subject, fact): the facts counted so far, one row each; a fact
//!   whose row is there already (a redelivered or replayed event) adds nothing.
//! - `report_counts` (tenant, grain, dimension, bucket, value → one column per [`Counter`]):
//!   counters per hour (grain 0) and per day (grain 1, UTC) of each dimension value.
//! - `report_histograms` (tenant, grain, dimension, bucket, value, metric, slot → n): the
//!   log-scale histograms of durations ([`super::histogram`]), the same way.
//!
//! A batch of events costs one `INSERT … ON CONFLICT DO NOTHING RETURNING` on the ledger and one
//! `INSERT … ON CONFLICT DO UPDATE SET c = c + excluded.c` on each roll-up table (per 500 rows),
//! after the batch's contributions are summed in memory. Each table has its primary key and no
//! other index: reads go by (tenant, grain, dimension, bucket) ranges.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use sea_orm::sea_query::{Alias, Cond, Expr, ExprTrait as _, Index, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, integer, string};

use super::facts::{COUNTERS, Counter, Dims, Fact};

/// Grain of hourly rows.
pub const HOUR: i32 = 0;
/// Grain of daily rows.
pub const DAY: i32 = 1;
/// The dimension of the whole tenant.
pub const ALL: i32 = 0;
/// The dimension of initiative scopes: "channel|segment|topic", topic "*" for every fact.
pub const SCOPE: i32 = 100;

/// Rows per roll-up statement: 35 parameters a row stays under SQLite's 32,766.
const ROWS_PER_STATEMENT: usize = 500;

/// Counters of one key.
pub type Counts = [i64; COUNTERS.len()];

/// The `report_ledger` table.
#[allow(missing_docs)]
pub mod ledger {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "report_ledger")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub fact: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates the roll-up tables.
pub struct CreateReportRollups;

impl MigrationName for CreateReportRollups {
    fn name(&self) -> &str {
        "m20261207_000100_create_report_rollups"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateReportRollups {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("report_ledger")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("subject"))
                    .col(string("fact"))
                    .primary_key(Index::create().col("tenant").col("subject").col("fact"))
                    .to_owned(),
            )
            .await?;
        let mut counts = Table::create();
        counts
            .table("report_counts")
            .if_not_exists()
            .col(string("tenant"))
            .col(integer("grain"))
            .col(integer("dimension"))
            .col(big_integer("bucket"))
            .col(string("value"));
        for counter in COUNTERS {
            counts.col(big_integer(counter.column()).default(0));
        }
        counts.primary_key(Index::create().col("tenant").col("grain").col("dimension").col("bucket").col("value"));
        manager.create_table(counts.to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table("report_histograms")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(integer("grain"))
                    .col(integer("dimension"))
                    .col(big_integer("bucket"))
                    .col(string("value"))
                    .col(integer("metric"))
                    .col(integer("slot"))
                    .col(big_integer("n"))
                    .primary_key(
                        Index::create()
                            .col("tenant")
                            .col("grain")
                            .col("dimension")
                            .col("bucket")
                            .col("value")
                            .col("metric")
                            .col("slot"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["report_histograms", "report_counts", "report_ledger"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// The start of the bucket of `at` in `grain`, in Unix seconds.
pub fn bucket(grain: i32, at: DateTime<Utc>) -> i64 {
    let width = if grain == DAY { TimeDelta::days(1) } else { TimeDelta::hours(1) };
    at.duration_trunc(width).map_or_else(|_| at.timestamp(), |start| start.timestamp())
}

/// A roll-up row's key.
type Key = (String, i32, i32, i64, String);

/// The (dimension, value) pairs a fact's counter counts in.
fn dimension_values(dims: &Dims, counter: Option<Counter>) -> Vec<(i32, String)> {
    use tend_proto::v1::ReportDimension as D;
    let mut values = vec![
        (ALL, String::new()),
        (D::Channel as i32, dims.channel.clone()),
        (D::Segment as i32, dims.segment.clone()),
        (D::Queue as i32, dims.queue.clone()),
    ];
    // A case changes hands: what is open is not kept by agent.
    if counter != Some(Counter::StillOpen) {
        values.push((D::Agent as i32, dims.agent.clone()));
    }
    values.extend(dims.topics.iter().map(|topic| (D::Topic as i32, topic.clone())));
    if let Some(department) = &dims.department {
        values.push((D::Department as i32, department.clone()));
    }
    if let Some(incident) = &dims.incident {
        values.push((D::Incident as i32, incident.clone()));
    }
    // Initiatives read counters only.
    if counter.is_some() {
        let prefix = format!("{}|{}|", dims.channel, dims.segment);
        values.push((SCOPE, format!("{prefix}*")));
        values.extend(dims.topics.iter().map(|topic| (SCOPE, format!("{prefix}{topic}"))));
    }
    values
}

/// What a batch adds to the roll-ups, summed by key.
#[derive(Debug, Default)]
pub struct Contributions {
    /// Counter sums by row.
    pub counts: HashMap<Key, Counts>,
    /// Histogram sums by row, metric and slot.
    pub histograms: HashMap<(Key, i32, i32), i64>,
}

impl Contributions {
    /// Adds `fact`.
    pub fn add(&mut self, fact: &Fact) {
        for (at, counter, n) in &fact.deltas {
            for (dimension, value) in dimension_values(&fact.dims, Some(*counter)) {
                for grain in [HOUR, DAY] {
                    let key = (fact.tenant.clone(), grain, dimension, bucket(grain, *at), value.clone());
                    self.counts.entry(key).or_insert([0; COUNTERS.len()])[counter.index()] += n;
                }
            }
        }
        for (at, metric, seconds) in &fact.durations {
            let slot = super::histogram::slot(*seconds);
            for (dimension, value) in dimension_values(&fact.dims, None) {
                for grain in [HOUR, DAY] {
                    let key = (fact.tenant.clone(), grain, dimension, bucket(grain, *at), value.clone());
                    *self.histograms.entry((key, *metric as i32, slot)).or_default() += 1;
                }
            }
        }
    }
}

/// Records `facts`: those with a subject once per (tenant, subject, key) through the ledger,
/// those without (interactions, counted once upstream) as they are; their contributions summed
/// in memory and added to the roll-ups with one upsert per table (per 500 rows). Returns how many
/// facts counted.
pub async fn record<C: ConnectionTrait>(conn: &C, facts: Vec<Fact>) -> Result<usize, DbErr> {
    let mut seen = HashSet::new();
    let facts: Vec<Fact> = facts
        .into_iter()
        .filter(|fact| {
            fact.subject.is_empty() || seen.insert((fact.tenant.clone(), fact.subject.clone(), fact.key.clone()))
        })
        .collect();
    let ledgered: Vec<ledger::ActiveModel> = facts
        .iter()
        .filter(|fact| !fact.subject.is_empty())
        .map(|fact| {
            ledger::ActiveModel::from(ledger::Model {
                tenant: fact.tenant.clone(),
                subject: fact.subject.clone(),
                fact: fact.key.clone(),
            })
        })
        .collect();
    let mut new = HashSet::new();
    let mut rows = ledgered.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<ledger::ActiveModel> = rows.by_ref().take(1_000).collect();
        new.extend(
            tend_store::query::insert_new(
                conn,
                chunk,
                [ledger::Column::Tenant, ledger::Column::Subject, ledger::Column::Fact],
            )
            .await?,
        );
    }
    let mut contributions = Contributions::default();
    let mut counted = 0;
    for fact in &facts {
        if fact.subject.is_empty() || new.contains(&(fact.tenant.clone(), fact.subject.clone(), fact.key.clone())) {
            contributions.add(fact);
            counted += 1;
        }
    }
    apply(conn, contributions).await?;
    Ok(counted)
}

/// `table.column + excluded.column`.
fn add_excluded(table: &str, column: &str) -> Expr {
    Expr::col((Alias::new(table), Alias::new(column))).add(Expr::col((Alias::new("excluded"), Alias::new(column))))
}

/// Adds `contributions` to the roll-up tables.
pub async fn apply<C: ConnectionTrait>(conn: &C, contributions: Contributions) -> Result<(), DbErr> {
    let keys = ["tenant", "grain", "dimension", "bucket", "value"];
    let counts: Vec<(Key, Counts)> =
        contributions.counts.into_iter().filter(|(_, counts)| counts.iter().any(|n| *n != 0)).collect();
    for chunk in counts.chunks(ROWS_PER_STATEMENT) {
        let mut insert = Query::insert();
        insert.into_table(Alias::new("report_counts"));
        let columns: Vec<Alias> =
            keys.iter().map(|key| Alias::new(*key)).chain(COUNTERS.iter().map(|c| Alias::new(c.column()))).collect();
        insert.columns(columns);
        for ((tenant, grain, dimension, bucket, value), counts) in chunk {
            let mut row: Vec<Expr> = vec![
                Expr::val(tenant.clone()),
                Expr::val(*grain),
                Expr::val(*dimension),
                Expr::val(*bucket),
                Expr::val(value.clone()),
            ];
            row.extend(counts.iter().map(|n| Expr::val(*n)));
            insert.values(row).map_err(|error| DbErr::Custom(error.to_string()))?;
        }
        let mut on_conflict = OnConflict::columns(keys.iter().map(|key| Alias::new(*key)));
        on_conflict
            .values(COUNTERS.iter().map(|c| (Alias::new(c.column()), add_excluded("report_counts", c.column()))));
        insert.on_conflict(on_conflict);
        conn.execute(&insert).await?;
    }
    let histograms: Vec<((Key, i32, i32), i64)> = contributions.histograms.into_iter().collect();
    for chunk in histograms.chunks(ROWS_PER_STATEMENT * 2) {
        let mut insert = Query::insert();
        insert.into_table(Alias::new("report_histograms"));
        insert.columns(keys.iter().chain(&["metric", "slot", "n"]).map(|column| Alias::new(*column)));
        for (((tenant, grain, dimension, bucket, value), metric, slot), n) in chunk {
            insert
                .values([
                    Expr::val(tenant.clone()),
                    Expr::val(*grain),
                    Expr::val(*dimension),
                    Expr::val(*bucket),
                    Expr::val(value.clone()),
                    Expr::val(*metric),
                    Expr::val(*slot),
                    Expr::val(*n),
                ])
                .map_err(|error| DbErr::Custom(error.to_string()))?;
        }
        let mut on_conflict =
            OnConflict::columns(keys.iter().chain(&["metric", "slot"]).map(|column| Alias::new(*column)));
        on_conflict.value(Alias::new("n"), add_excluded("report_histograms", "n"));
        insert.on_conflict(on_conflict);
        conn.execute(&insert).await?;
    }
    Ok(())
}

/// A window of whole hours, `[from, to)` in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    /// Start (a whole hour).
    pub from: i64,
    /// End (a whole hour).
    pub to: i64,
}

impl Hours {
    /// `[from, to)` widened to whole hours.
    pub fn covering(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        let from = bucket(HOUR, from);
        let end = bucket(HOUR, to);
        let to = if end == to.timestamp() && to.timestamp_subsec_nanos() == 0 { end } else { end + 3600 };
        Self { from, to: Ord::max(to, from) }
    }

    /// The row ranges that cover it, each `(grain, from, to)`: daily rows for the whole days
    /// inside, hourly rows for the hours at either end. Each is read with its own statement, a
    /// range of the primary key (an `OR` of them would scan the table).
    fn ranges(self) -> Vec<(i32, i64, i64)> {
        let first_day = (self.from + 86_399).div_euclid(86_400) * 86_400;
        let last_day = self.to.div_euclid(86_400) * 86_400;
        if first_day >= last_day {
            return vec![(HOUR, self.from, self.to)];
        }
        [(HOUR, self.from, first_day), (DAY, first_day, last_day), (HOUR, last_day, self.to)]
            .into_iter()
            .filter(|(_, from, to)| from < to)
            .collect()
    }
}

/// The rows of one range of `tenant`'s `dimension` (only `values` when given).
fn range_condition(tenant: &str, dimension: i32, (grain, from, to): (i32, i64, i64), values: &[String]) -> Cond {
    Cond::all()
        .add(Expr::col("tenant").eq(tenant))
        .add(Expr::col("grain").eq(grain))
        .add(Expr::col("dimension").eq(dimension))
        .add(Expr::col("bucket").gte(from))
        .add(Expr::col("bucket").lt(to))
        .add_option((!values.is_empty()).then(|| Expr::col("value").is_in(values.iter().cloned())))
}

/// The counters of `tenant`'s `dimension` summed over `hours`, by value (only `values` when
/// given).
pub async fn sum_counts<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    dimension: i32,
    hours: Hours,
    values: &[String],
) -> Result<Vec<(String, Counts)>, DbErr> {
    let mut sums: BTreeMap<String, Counts> = BTreeMap::new();
    for range in hours.ranges() {
        let mut select = Query::select();
        select.from(Alias::new("report_counts")).column(Alias::new("value"));
        for counter in COUNTERS {
            select.expr(Expr::cust(format!("CAST(SUM({}) AS BIGINT)", counter.column())));
        }
        select.cond_where(range_condition(tenant, dimension, range, values)).group_by_col(Alias::new("value"));
        for row in conn.query_all(&select).await? {
            let value: String = row.try_get_by_index(0)?;
            let sum = sums.entry(value).or_insert([0; COUNTERS.len()]);
            for (index, count) in sum.iter_mut().enumerate() {
                *count += row.try_get_by_index::<Option<i64>>(index + 1)?.unwrap_or(0);
            }
        }
    }
    Ok(sums.into_iter().collect())
}

/// The histograms of `tenant`'s `dimension` summed over `hours`: (value, metric, slot, count).
pub async fn sum_histograms<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    dimension: i32,
    hours: Hours,
    values: &[String],
) -> Result<Vec<(String, i32, i32, i64)>, DbErr> {
    let mut sums: BTreeMap<(String, i32, i32), i64> = BTreeMap::new();
    for range in hours.ranges() {
        let mut select = Query::select();
        select
            .from(Alias::new("report_histograms"))
            .column(Alias::new("value"))
            .column(Alias::new("metric"))
            .column(Alias::new("slot"))
            .expr(Expr::cust("CAST(SUM(n) AS BIGINT)"))
            .cond_where(range_condition(tenant, dimension, range, values))
            .group_by_col(Alias::new("value"))
            .group_by_col(Alias::new("metric"))
            .group_by_col(Alias::new("slot"));
        for row in conn.query_all(&select).await? {
            let key =
                (row.try_get_by_index::<String>(0)?, row.try_get_by_index::<i32>(1)?, row.try_get_by_index::<i32>(2)?);
            *sums.entry(key).or_default() += row.try_get_by_index::<Option<i64>>(3)?.unwrap_or(0);
        }
    }
    Ok(sums.into_iter().map(|((value, metric, slot), n)| (value, metric, slot, n)).collect())
}

/// Days of hourly rows the backlog's ages read; before them, daily rows.
pub const BACKLOG_HOURLY_DAYS: i64 = 7;

/// The tenant's cases open now by when they were opened: `(start, count)` of the hours of the
/// last [`BACKLOG_HOURLY_DAYS`] whole days (and today) and of the days before, those with any.
/// Two range reads of the primary key: at most 192 hourly rows and one daily row a day.
pub async fn open_by_opening<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, i64)>, DbErr> {
    let split = bucket(DAY, now) - BACKLOG_HOURLY_DAYS * 86_400;
    let mut open = Vec::new();
    for (grain, from, to) in [(DAY, i64::MIN, split), (HOUR, split, i64::MAX)] {
        let mut select = Query::select();
        select
            .from(Alias::new("report_counts"))
            .column(Alias::new("bucket"))
            .column(Alias::new("still_open"))
            .cond_where(
                Cond::all()
                    .add(Expr::col("tenant").eq(tenant))
                    .add(Expr::col("grain").eq(grain))
                    .add(Expr::col("dimension").eq(ALL))
                    .add(Expr::col("bucket").gte(from))
                    .add(Expr::col("bucket").lt(to))
                    .add(Expr::col("still_open").ne(0)),
            );
        for row in conn.query_all(&select).await? {
            open.push((row.try_get_by_index::<i64>(0)?, row.try_get_by_index::<i64>(1)?));
        }
    }
    Ok(open)
}
