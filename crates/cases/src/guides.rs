//! Guides, `guides`: versioned decision trees of questions an agent steps through on a case
//! (troubleshooting, refunds, retention offers). A version is checked whole when saved (every
//! answer leads to a node, every node is reached from the start, nothing loops) and never
//! changed after; each step taken on a case is a timeline entry, so the path stays with it.

use std::collections::{HashMap, HashSet};

use prost::Message as _;
use sea_orm::sea_query::Index;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{blob, integer, string, timestamp_with_time_zone};
use tend_kernel::ApiError;
use tend_kernel::ids::to_timestamp;
use tend_proto::v1;

/// Most nodes of a guide.
const MAX_NODES: usize = 200;
/// Most answers of a node.
const MAX_ANSWERS: usize = 12;
/// Longest node text or suggested reply, in bytes.
const MAX_TEXT: usize = 2048;
/// Longest answer label, title or suggestion other than a reply, in bytes.
const MAX_LABEL: usize = 256;

/// The `guides` table: one row per version.
#[allow(missing_docs)]
pub mod guide {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "guides")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i32,
        /// The `tend.v1.Guide`, protobuf-encoded.
        pub body: Vec<u8>,
        pub saved_by: String,
        pub saved_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `guides`.
pub struct CreateGuides;

impl MigrationName for CreateGuides {
    fn name(&self) -> &str {
        "m20261203_000500_create_guides"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateGuides {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("guides")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("name"))
                    .col(integer("version"))
                    .col(blob("body"))
                    .col(string("saved_by"))
                    .col(timestamp_with_time_zone("saved_at"))
                    .primary_key(Index::create().col("tenant").col("name").col("version"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("guides").if_exists().to_owned()).await
    }
}

/// A name of a guide or a node: 1 to 64 of a-z, 0-9, "-", "_".
fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    let fits = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'));
    if fits {
        Ok(())
    } else {
        Err(ApiError::invalid(field, format!("{name:?} is not a name: 1 to 64 of a-z, 0-9, \"-\", \"_\"")))
    }
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::invalid(field, format!("must be at most {max} bytes")));
    }
    Ok(())
}

/// Checks a guide as given: names, sizes, and that it is a tree every node of which is reached
/// from the start, no answer leading nowhere and no path looping back.
pub fn check(guide: &v1::Guide) -> Result<(), ApiError> {
    check_name("guide.name", &guide.name)?;
    check_len("guide.title", &guide.title, MAX_LABEL)?;
    if guide.nodes.is_empty() || guide.nodes.len() > MAX_NODES {
        return Err(ApiError::invalid("guide.nodes", format!("must hold 1 to {MAX_NODES} nodes")));
    }
    let mut nodes: HashMap<&str, &v1::GuideNode> = HashMap::new();
    for node in &guide.nodes {
        check_name("guide.nodes.id", &node.id)?;
        let field = |what: &str| format!("guide.nodes[{}].{what}", node.id);
        check_len(&field("text"), &node.text, MAX_TEXT)?;
        check_len(&field("suggest_reply"), &node.suggest_reply, MAX_TEXT)?;
        check_len(&field("suggest_tag"), &node.suggest_tag, MAX_LABEL)?;
        check_len(&field("suggest_department"), &node.suggest_department, MAX_LABEL)?;
        if node.answers.len() > MAX_ANSWERS {
            return Err(ApiError::invalid(field("answers"), format!("at most {MAX_ANSWERS}")));
        }
        for answer in &node.answers {
            check_len(&field("answers.label"), &answer.label, MAX_LABEL)?;
        }
        if nodes.insert(&node.id, node).is_some() {
            return Err(ApiError::invalid("guide.nodes.id", format!("{:?} is used twice", node.id)));
        }
    }
    for node in &guide.nodes {
        for answer in &node.answers {
            if !nodes.contains_key(answer.next.as_str()) {
                return Err(ApiError::invalid(
                    format!("guide.nodes[{}].answers.next", node.id),
                    format!("{:?} leads to no node", answer.next),
                ));
            }
        }
    }
    if !nodes.contains_key(guide.start.as_str()) {
        return Err(ApiError::invalid("guide.start", format!("{:?} is not a node", guide.start)));
    }
    // Depth first from the start: a node met again on the current path is a loop.
    let mut reached: HashSet<&str> = HashSet::new();
    let mut on_path: HashSet<&str> = HashSet::new();
    let mut stack: Vec<(&str, usize)> = vec![(guide.start.as_str(), 0)];
    on_path.insert(&guide.start);
    reached.insert(&guide.start);
    while let Some((id, next)) = stack.pop() {
        let node = nodes[id];
        if let Some(answer) = node.answers.get(next) {
            stack.push((id, next + 1));
            let to = answer.next.as_str();
            if on_path.contains(to) {
                return Err(ApiError::invalid(
                    format!("guide.nodes[{id}].answers.next"),
                    format!("{to:?} loops back to a node on the way to it"),
                ));
            }
            reached.insert(to);
            on_path.insert(to);
            stack.push((to, 0));
        } else {
            on_path.remove(id);
        }
    }
    if let Some(lost) = guide.nodes.iter().find(|node| !reached.contains(node.id.as_str())) {
        return Err(ApiError::invalid("guide.nodes", format!("{:?} is not reached from the start", lost.id)));
    }
    Ok(())
}

/// The latest version of guide `name`, or version `version`.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    name: &str,
    version: u32,
) -> Result<Option<v1::Guide>, DbErr> {
    let mut query = guide::Entity::find().filter(guide::Column::Tenant.eq(tenant)).filter(guide::Column::Name.eq(name));
    if version > 0 {
        query = query.filter(guide::Column::Version.eq(<i32 as TryFrom<u32>>::try_from(version).unwrap_or(i32::MAX)));
    }
    let row = query.order_by_desc(guide::Column::Version).one(conn).await?;
    Ok(row.map(to_proto))
}

/// Versions of guides a tenant may keep, all names together: each `PutGuide` adds one, and
/// [`latest`] reads them all.
pub const MAX_GUIDE_VERSIONS: u64 = 10_000;

/// How many versions of guides the tenant keeps, all names together.
pub async fn count<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait as _;
    guide::Entity::find().filter(guide::Column::Tenant.eq(tenant)).count(conn).await
}

/// Saves `guide` as the next version of its name, by `actor` at `now`.
pub async fn save<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    mut guide: v1::Guide,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<v1::Guide, DbErr> {
    let latest = find(conn, tenant, &guide.name, 0).await?.map_or(0, |latest| latest.version);
    guide.version = latest + 1;
    guide.saved_by = actor.to_owned();
    guide.saved_at = Some(to_timestamp(now));
    let row = guide::Model {
        tenant: tenant.to_owned(),
        name: guide.name.clone(),
        version: <i32 as TryFrom<u32>>::try_from(guide.version).unwrap_or(i32::MAX),
        body: guide.encode_to_vec(),
        saved_by: actor.to_owned(),
        saved_at: now,
    };
    // Two saves racing for one version: the loser's insert fails on the key and is retried.
    guide::Entity::insert(guide::ActiveModel::from(row)).exec_without_returning(conn).await?;
    Ok(guide)
}

/// The latest version of each of the tenant's guides, by name.
pub async fn latest<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<v1::Guide>, DbErr> {
    let rows = guide::Entity::find()
        .filter(guide::Column::Tenant.eq(tenant))
        .order_by_asc(guide::Column::Name)
        .order_by_desc(guide::Column::Version)
        .limit(MAX_GUIDE_VERSIONS)
        .all(conn)
        .await?;
    let mut seen = HashSet::new();
    Ok(rows.into_iter().filter(|row| seen.insert(row.name.clone())).map(to_proto).collect())
}

fn to_proto(row: guide::Model) -> v1::Guide {
    v1::Guide::decode(row.body.as_slice()).unwrap_or_else(|_| v1::Guide { name: row.name, ..Default::default() })
}

/// Where a step of `guide` leads: the start when `node_id` is empty, otherwise the node the
/// `answer`-th answer of `node_id` leads to.
pub fn step<'a>(guide: &'a v1::Guide, node_id: &str, answer: u32) -> Result<(&'a v1::GuideNode, String), ApiError> {
    let node = |id: &str| guide.nodes.iter().find(|node| node.id == id);
    if node_id.is_empty() {
        let start = node(&guide.start).ok_or_else(|| ApiError::internal("a saved guide without its start"))?;
        return Ok((start, format!("started at {}", start.id)));
    }
    let at = node(node_id)
        .ok_or_else(|| ApiError::invalid("node_id", format!("{node_id:?} is not a node of guide {}", guide.name)))?;
    let taken = usize::try_from(answer).ok().and_then(|index| at.answers.get(index)).ok_or_else(|| {
        ApiError::invalid(
            "answer",
            format!("node {node_id:?} has {} answers (0 to {})", at.answers.len(), at.answers.len().saturating_sub(1)),
        )
    })?;
    let next = node(&taken.next).ok_or_else(|| ApiError::internal("a saved guide leads nowhere"))?;
    Ok((next, format!("{}: {} → {}", at.id, taken.label, next.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, next: &[&str]) -> v1::GuideNode {
        v1::GuideNode {
            id: id.into(),
            text: format!("{id}?"),
            answers: next.iter().map(|to| v1::GuideAnswer { label: format!("to {to}"), next: (*to).into() }).collect(),
            ..Default::default()
        }
    }

    fn guide(nodes: Vec<v1::GuideNode>) -> v1::Guide {
        v1::Guide { name: "parcel".into(), start: "a".into(), nodes, ..Default::default() }
    }

    #[test]
    fn a_tree_and_a_shared_end_are_fine() {
        let ok = guide(vec![node("a", &["b", "c"]), node("b", &["d"]), node("c", &["d"]), node("d", &[])]);
        assert!(check(&ok).is_ok());
        let (next, path) = step(&ok, "a", 1).unwrap();
        assert_eq!((next.id.as_str(), path.as_str()), ("c", "a: to c → c"));
        assert!(step(&ok, "a", 2).is_err());
        assert!(step(&ok, "zz", 0).is_err());
        assert_eq!(step(&ok, "", 0).unwrap().0.id, "a");
    }

    #[test]
    fn loops_dead_ends_and_strays_are_refused() {
        let looping = guide(vec![node("a", &["b"]), node("b", &["a"])]);
        assert!(check(&looping).unwrap_err().to_string().contains("loops"));
        let nowhere = guide(vec![node("a", &["x"])]);
        assert!(check(&nowhere).unwrap_err().to_string().contains("leads to no node"));
        let stray = guide(vec![node("a", &[]), node("b", &[])]);
        assert!(check(&stray).unwrap_err().to_string().contains("not reached"));
        let twice = guide(vec![node("a", &[]), node("a", &[])]);
        assert!(check(&twice).unwrap_err().to_string().contains("twice"));
        let no_start = v1::Guide { start: "q".into(), ..guide(vec![node("a", &[])]) };
        assert!(check(&no_start).unwrap_err().to_string().contains("guide.start"));
    }
}
