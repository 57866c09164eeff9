//! Initiatives: campaigns, product fixes and process changes registered with their start and
//! scope, and their before-vs-after report read from the service report's roll-ups.

mod report;
pub mod stats;
#[cfg(test)]
pub(crate) mod tests;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Index;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel as _, PaginatorTrait as _,
    QueryFilter,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{integer, string, text, timestamp_with_time_zone};
use tend_kernel::ApiError;
use tend_kernel::ids::{from_timestamp, new_id, to_timestamp};
use tend_kernel::paging::Page;
use tend_proto::v1;

pub use report::report;

/// Most initiatives a tenant keeps.
pub const MAX_INITIATIVES: u64 = 1_000;

/// The `initiatives` table.
#[allow(missing_docs)]
pub mod initiative {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "initiatives")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub idempotency_key: String,
        pub name: String,
        /// `tend.v1.InitiativeKind`.
        pub kind: i32,
        pub description: String,
        pub starts_at: ChronoDateTimeUtc,
        /// Topic names joined by "\n".
        pub topics: String,
        /// `tend.v1.Channel` numbers joined by ",".
        pub channels: String,
        /// Segments joined by "\n".
        pub segments: String,
        pub team: String,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `initiatives`.
pub struct CreateInitiatives;

impl MigrationName for CreateInitiatives {
    fn name(&self) -> &str {
        "m20261207_000200_create_initiatives"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateInitiatives {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("initiatives")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("id"))
                    .col(string("idempotency_key"))
                    .col(string("name"))
                    .col(integer("kind"))
                    .col(text("description"))
                    .col(timestamp_with_time_zone("starts_at"))
                    .col(text("topics"))
                    .col(text("channels"))
                    .col(text("segments"))
                    .col(string("team"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("tenant").col("id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("initiatives_tenant_key")
                    .table("initiatives")
                    .col("tenant")
                    .col("idempotency_key")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("initiatives").to_owned()).await
    }
}

/// A name in a scope: 1 to `max` bytes, no control characters and no "|" (the roll-ups' scope
/// separator).
fn check_names(field: &str, names: &[String], most: usize, max: usize) -> Result<(), ApiError> {
    if names.len() > most {
        return Err(ApiError::invalid(field, format!("at most {most}")));
    }
    for name in names {
        if name.is_empty() || name.len() > max || name.contains('|') || name.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                field,
                format!("each must be 1 to {max} bytes, without \"|\" or control characters (got {name:?})"),
            ));
        }
    }
    Ok(())
}

/// An initiative as given, checked.
struct Draft {
    name: String,
    kind: i32,
    description: String,
    starts_at: DateTime<Utc>,
    topics: Vec<String>,
    channels: Vec<i32>,
    segments: Vec<String>,
    team: String,
}

fn draft(initiative: Option<&v1::Initiative>) -> Result<Draft, ApiError> {
    let initiative = initiative.ok_or_else(|| ApiError::invalid("initiative", "required"))?;
    let name = initiative.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::invalid("initiative.name", "required, at most 200 bytes"));
    }
    match v1::InitiativeKind::try_from(initiative.kind) {
        Ok(v1::InitiativeKind::Unspecified) | Err(_) => {
            return Err(ApiError::invalid(
                "initiative.kind",
                "required: INITIATIVE_KIND_CAMPAIGN, INITIATIVE_KIND_PRODUCT_FIX or INITIATIVE_KIND_PROCESS_CHANGE",
            ));
        }
        Ok(_) => {}
    }
    if initiative.description.len() > 4096 {
        return Err(ApiError::invalid("initiative.description", "at most 4 KiB"));
    }
    if initiative.team.len() > 128 {
        return Err(ApiError::invalid("initiative.team", "at most 128 bytes"));
    }
    let starts_at =
        initiative.starts_at.as_ref().ok_or_else(|| ApiError::invalid("initiative.starts_at", "required"))?;
    let starts_at = from_timestamp("initiative.starts_at", starts_at)?;
    let scope = initiative.scope.clone().unwrap_or_default();
    check_names("initiative.scope.topics", &scope.topics, 20, 256)?;
    check_names("initiative.scope.segments", &scope.segments, 20, 64)?;
    if scope.channels.len() > 6 {
        return Err(ApiError::invalid("initiative.scope.channels", "at most 6"));
    }
    if scope
        .channels
        .iter()
        .any(|channel| v1::Channel::try_from(*channel).is_err() || *channel == v1::Channel::Unspecified as i32)
    {
        return Err(ApiError::invalid("initiative.scope.channels", "each must be a defined Channel, not UNSPECIFIED"));
    }
    let dedup = |mut names: Vec<String>| {
        names.sort();
        names.dedup();
        names
    };
    let mut channels = scope.channels;
    channels.sort_unstable();
    channels.dedup();
    Ok(Draft {
        name: name.to_owned(),
        kind: initiative.kind,
        description: initiative.description.clone(),
        starts_at,
        topics: dedup(scope.topics),
        channels,
        segments: dedup(scope.segments),
        team: initiative.team.clone(),
    })
}

fn split(joined: &str, separator: char) -> Vec<String> {
    joined.split(separator).filter(|part| !part.is_empty()).map(str::to_owned).collect()
}

/// A stored initiative on the wire.
pub fn to_proto(row: &initiative::Model) -> v1::Initiative {
    v1::Initiative {
        id: row.id.clone(),
        name: row.name.clone(),
        kind: row.kind,
        description: row.description.clone(),
        starts_at: Some(to_timestamp(row.starts_at)),
        scope: Some(v1::InitiativeScope {
            topics: split(&row.topics, '\n'),
            channels: row.channels.split(',').filter_map(|number| number.parse().ok()).collect(),
            segments: split(&row.segments, '\n'),
        }),
        team: row.team.clone(),
        created_at: Some(to_timestamp(row.created_at)),
        updated_at: Some(to_timestamp(row.updated_at)),
    }
}

fn apply(row: &mut initiative::Model, draft: Draft, now: DateTime<Utc>) {
    row.name = draft.name;
    row.kind = draft.kind;
    row.description = draft.description;
    row.starts_at = draft.starts_at;
    row.topics = draft.topics.join("\n");
    row.channels = draft.channels.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    row.segments = draft.segments.join("\n");
    row.team = draft.team;
    row.updated_at = now;
}

fn db(what: &'static str) -> impl Fn(DbErr) -> ApiError {
    move |error| ApiError::internal(format!("{what}: {error}"))
}

/// One initiative of `tenant`.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<initiative::Model, ApiError> {
    if id.is_empty() || id.len() > 128 {
        return Err(ApiError::invalid("id", "required, at most 128 bytes"));
    }
    initiative::Entity::find_by_id((tenant.to_owned(), id.to_owned()))
        .one(conn)
        .await
        .map_err(db("reading the initiative"))?
        .ok_or_else(|| ApiError::not_found("initiative", id))
}

/// CreateInitiative.
pub async fn create<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    request: &v1::CreateInitiativeRequest,
) -> Result<v1::Initiative, ApiError> {
    let key = &request.idempotency_key;
    if key.is_empty() || key.len() > 256 {
        return Err(ApiError::invalid("idempotency_key", "required, 1 to 256 bytes"));
    }
    let draft = draft(request.initiative.as_ref())?;
    let existing = initiative::Entity::find()
        .filter(initiative::Column::Tenant.eq(tenant))
        .filter(initiative::Column::IdempotencyKey.eq(key.as_str()))
        .one(conn)
        .await
        .map_err(db("looking the key up"))?;
    if let Some(row) = existing {
        return Ok(to_proto(&row));
    }
    let count = initiative::Entity::find()
        .filter(initiative::Column::Tenant.eq(tenant))
        .count(conn)
        .await
        .map_err(db("counting initiatives"))?;
    if count >= MAX_INITIATIVES {
        return Err(ApiError::quota("initiatives", MAX_INITIATIVES));
    }
    let now = tend_kernel::ids::now();
    let mut row = initiative::Model {
        tenant: tenant.to_owned(),
        id: new_id(),
        idempotency_key: key.clone(),
        name: String::new(),
        kind: 0,
        description: String::new(),
        starts_at: now,
        topics: String::new(),
        channels: String::new(),
        segments: String::new(),
        team: String::new(),
        created_at: now,
        updated_at: now,
    };
    apply(&mut row, draft, now);
    let inserted = tend_store::query::insert_new(
        conn,
        vec![initiative::ActiveModel::from(row.clone())],
        [initiative::Column::Tenant, initiative::Column::IdempotencyKey],
    )
    .await
    .map_err(db("storing the initiative"))?;
    if inserted.is_empty() {
        // A concurrent create with the same key won: its initiative is the answer.
        let winner = initiative::Entity::find()
            .filter(initiative::Column::Tenant.eq(tenant))
            .filter(initiative::Column::IdempotencyKey.eq(key.as_str()))
            .one(conn)
            .await
            .map_err(db("reading the initiative"))?
            .ok_or_else(|| ApiError::internal("an initiative's key without its initiative"))?;
        return Ok(to_proto(&winner));
    }
    Ok(to_proto(&row))
}

/// UpdateInitiative.
pub async fn update<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    request: &v1::UpdateInitiativeRequest,
) -> Result<v1::Initiative, ApiError> {
    let id = request.initiative.as_ref().map_or("", |initiative| initiative.id.as_str());
    let draft = draft(request.initiative.as_ref())?;
    let mut row = find(conn, tenant, id).await?;
    apply(&mut row, draft, tend_kernel::ids::now());
    let mut active = row.clone().into_active_model();
    for column in [
        initiative::Column::Name,
        initiative::Column::Kind,
        initiative::Column::Description,
        initiative::Column::StartsAt,
        initiative::Column::Topics,
        initiative::Column::Channels,
        initiative::Column::Segments,
        initiative::Column::Team,
        initiative::Column::UpdatedAt,
    ] {
        active.reset(column);
    }
    active.update(conn).await.map_err(db("updating the initiative"))?;
    Ok(to_proto(&row))
}

/// DeleteInitiative: whether there was one.
pub async fn delete<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<bool, ApiError> {
    if id.is_empty() || id.len() > 128 {
        return Err(ApiError::invalid("id", "required, at most 128 bytes"));
    }
    let deleted = initiative::Entity::delete_by_id((tenant.to_owned(), id.to_owned()))
        .exec(conn)
        .await
        .map_err(db("deleting the initiative"))?;
    Ok(deleted.rows_affected > 0)
}

/// ListInitiatives.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    request: &v1::ListInitiativesRequest,
) -> Result<v1::ListInitiativesResponse, ApiError> {
    let page = Page::parse(request.page_size, &request.page_token)?;
    let query = initiative::Entity::find().filter(initiative::Column::Tenant.eq(tenant));
    let rows = tend_store::query::newest_first(query, initiative::Column::Id, &page)
        .all(conn)
        .await
        .map_err(db("listing initiatives"))?;
    let initiatives = rows.iter().map(to_proto).collect();
    let (initiatives, next_page_token) = page.fit(initiatives, |initiative| initiative.id.as_str());
    Ok(v1::ListInitiativesResponse { initiatives, next_page_token })
}
