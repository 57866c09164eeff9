//! The identity service's table `profiles`, its migrations and queries (all tenant-scoped).

use sea_orm::sea_query::{Expr, Index};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, blob, double, integer, string, string_null, text, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};
use tend_kernel::paging::Page;
use tend_store::query::{newest_first, save};

/// The `profiles` table: one row per author per channel.
#[allow(missing_docs)]
pub mod profile {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "profiles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub channel: i32,
        pub external_id: String,
        pub handle: String,
        pub display_name: String,
        pub followers: i64,
        pub customer_id: String,
        pub status: String,
        pub first_seen_at: ChronoDateTimeUtc,
        pub last_seen_at: ChronoDateTimeUtc,
        /// How the link was made (`LinkMethod` name in lowercase); empty when not linked.
        pub link_method: String,
        /// Why, for people.
        pub link_evidence: String,
        pub linked_at: Option<ChronoDateTimeUtc>,
        /// The author's email, canonical, when a login-based channel gave one.
        pub email: String,
        /// Where the author says they are (free text), from the last sighting.
        pub location: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The service's migrations, recorded in its own table `identity_migrations`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(tend_store::migration::CreateOutbox),
            Box::new(tend_store::migration::CreateInbox),
            Box::new(CreateProfiles),
            Box::new(CreateCustomers),
            Box::new(CreateDecisions),
            Box::new(CreateMatcher),
        ]
    }

    fn migration_table_name() -> DynIden {
        "identity_migrations".into_iden()
    }
}

struct CreateProfiles;

impl MigrationName for CreateProfiles {
    fn name(&self) -> &str {
        "m20261123_000100_create_profiles"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateProfiles {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("profiles")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(integer("channel"))
                    .col(string("external_id"))
                    .col(string("handle"))
                    .col(string("display_name"))
                    .col(big_integer("followers"))
                    .col(string("customer_id"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("first_seen_at"))
                    .col(timestamp_with_time_zone("last_seen_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("profiles_tenant_channel_external_id")
                    .table("profiles")
                    .col("tenant")
                    .col("channel")
                    .col("external_id")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("profiles").to_owned()).await
    }
}

/// The tenant's profile of this channel author, if seen before.
pub async fn find_by_author<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    channel: i32,
    external_id: &str,
) -> Result<Option<profile::Model>, DbErr> {
    profile::Entity::find()
        .filter(profile::Column::Tenant.eq(tenant))
        .filter(profile::Column::Channel.eq(channel))
        .filter(profile::Column::ExternalId.eq(external_id))
        .one(conn)
        .await
}

/// One profile of a tenant.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<profile::Model>, DbErr> {
    profile::Entity::find_by_id(id.to_owned()).filter(profile::Column::Tenant.eq(tenant)).one(conn).await
}

/// Inserts a new profile.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: profile::Model) -> Result<(), DbErr> {
    profile::Entity::insert(profile::ActiveModel::from(row)).exec_without_returning(conn).await?;
    Ok(())
}

/// Saves what a new sighting tells about a known profile.
pub async fn update_sighting<C: ConnectionTrait>(conn: &C, row: &profile::Model) -> Result<(), DbErr> {
    profile::Entity::update_many()
        .col_expr(profile::Column::Handle, Expr::value(row.handle.clone()))
        .col_expr(profile::Column::DisplayName, Expr::value(row.display_name.clone()))
        .col_expr(profile::Column::Followers, Expr::value(row.followers))
        .col_expr(profile::Column::LastSeenAt, Expr::value(row.last_seen_at))
        .col_expr(profile::Column::Email, Expr::value(row.email.clone()))
        .col_expr(profile::Column::Location, Expr::value(row.location.clone()))
        .filter(profile::Column::Id.eq(row.id.clone()))
        .filter(profile::Column::Tenant.eq(row.tenant.clone()))
        .exec(conn)
        .await?;
    Ok(())
}

/// A page of a tenant's rows, newest first.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: &str, page: &Page) -> Result<Vec<profile::Model>, DbErr> {
    let query = profile::Entity::find().filter(profile::Column::Tenant.eq(tenant));
    newest_first(query, profile::Column::Id, page).all(conn).await
}

/// The `customers` table: the CRM's view of each customer, normalised, with the original input.
#[allow(missing_docs)]
pub mod customer {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "customers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub crm_id: String,
        pub given_name: String,
        pub family_name: String,
        pub postcode: String,
        pub date_of_birth: Option<String>,
        pub segment: String,
        pub tier: String,
        pub lifetime_value: f64,
        /// The `CustomerInput` as last given, protobuf-encoded.
        pub original: Vec<u8>,
        /// The customer this one was merged into; hidden from lists while set.
        pub merged_into: Option<String>,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `customer_identifiers` table: each normalised email, phone and handle of a customer,
/// indexed for deterministic look-ups.
#[allow(missing_docs)]
pub mod identifier {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "customer_identifiers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        /// "email", "phone" or "handle".
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub value: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub customer_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `link_events` table: every link and unlink, by whom, how and why (the audit log).
#[allow(missing_docs)]
pub mod link_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "link_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub profile_id: String,
        pub customer_id: String,
        /// "linked", "unlinked", …
        pub action: String,
        pub method: String,
        pub evidence: String,
        pub actor: String,
        pub reason: Option<String>,
        pub at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

struct CreateCustomers;

impl MigrationName for CreateCustomers {
    fn name(&self) -> &str {
        "m20261123_000200_create_customers"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCustomers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("customers")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("crm_id"))
                    .col(string("given_name"))
                    .col(string("family_name"))
                    .col(string("postcode"))
                    .col(string_null("date_of_birth"))
                    .col(string("segment"))
                    .col(string("tier"))
                    .col(double("lifetime_value"))
                    .col(blob("original"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("customers_tenant_crm_id")
                    .table("customers")
                    .col("tenant")
                    .col("crm_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("customer_identifiers")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("kind"))
                    .col(string("value"))
                    .col(string("customer_id"))
                    .primary_key(Index::create().col("tenant").col("kind").col("value").col("customer_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("customer_identifiers_customer")
                    .table("customer_identifiers")
                    .col("tenant")
                    .col("customer_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("link_events")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("profile_id"))
                    .col(string("customer_id"))
                    .col(string("action"))
                    .col(string("method"))
                    .col(text("evidence"))
                    .col(string("actor"))
                    .col(string_null("reason"))
                    .col(timestamp_with_time_zone("at"))
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        for column in [
            string("link_method").default("").to_owned(),
            text("link_evidence").default("").to_owned(),
            timestamp_with_time_zone_null("linked_at"),
        ] {
            manager.alter_table(Table::alter().table("profiles").add_column(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["linked_at", "link_evidence", "link_method"] {
            manager.alter_table(Table::alter().table("profiles").drop_column(column).to_owned()).await?;
        }
        for table in ["link_events", "customer_identifiers", "customers"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// The tenant's customer with this CRM id, if any.
pub async fn find_customer_by_crm_id<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    crm_id: &str,
) -> Result<Option<customer::Model>, DbErr> {
    customer::Entity::find()
        .filter(customer::Column::Tenant.eq(tenant))
        .filter(customer::Column::CrmId.eq(crm_id))
        .one(conn)
        .await
}

/// One customer of a tenant.
pub async fn find_customer<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    id: &str,
) -> Result<Option<customer::Model>, DbErr> {
    customer::Entity::find_by_id(id.to_owned()).filter(customer::Column::Tenant.eq(tenant)).one(conn).await
}

/// Inserts or replaces a customer row and its identifiers (`(kind, value)` pairs).
pub async fn save_customer<C: ConnectionTrait>(
    conn: &C,
    row: customer::Model,
    identifiers: &[(&'static str, String)],
    is_new: bool,
) -> Result<(), DbErr> {
    let tenant = row.tenant.clone();
    let customer_id = row.id.clone();
    save(conn, customer::ActiveModel::from(row), is_new).await?;
    if !is_new {
        remove_identifiers(conn, &tenant, &customer_id, None).await?;
    }
    let rows: Vec<identifier::ActiveModel> = identifiers
        .iter()
        .map(|(kind, value)| identifier::ActiveModel {
            tenant: Set(tenant.clone()),
            kind: Set((*kind).to_owned()),
            value: Set(value.clone()),
            customer_id: Set(customer_id.clone()),
        })
        .collect();
    if !rows.is_empty() {
        identifier::Entity::insert_many(rows).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// The ids of the tenant's customers with this identifier.
pub async fn customers_with<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    kind: &str,
    value: &str,
) -> Result<Vec<String>, DbErr> {
    let rows = identifier::Entity::find()
        .filter(identifier::Column::Tenant.eq(tenant))
        .filter(identifier::Column::Kind.eq(kind))
        .filter(identifier::Column::Value.eq(value))
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|row| row.customer_id).collect())
}

/// A page of a tenant's customers, newest first, leaving out merged ones.
pub async fn list_customers<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    page: &Page,
) -> Result<Vec<customer::Model>, DbErr> {
    let query = customer::Entity::find()
        .filter(customer::Column::Tenant.eq(tenant))
        .filter(customer::Column::MergedInto.is_null());
    newest_first(query, customer::Column::Id, page).all(conn).await
}

/// Records a link of `profile` (already updated in memory) and its audit event.
pub async fn save_link<C: ConnectionTrait>(
    conn: &C,
    profile: &profile::Model,
    event: link_event::Model,
) -> Result<(), DbErr> {
    profile::Entity::update_many()
        .col_expr(profile::Column::CustomerId, Expr::value(profile.customer_id.clone()))
        .col_expr(profile::Column::Status, Expr::value(profile.status.clone()))
        .col_expr(profile::Column::LinkMethod, Expr::value(profile.link_method.clone()))
        .col_expr(profile::Column::LinkEvidence, Expr::value(profile.link_evidence.clone()))
        .col_expr(profile::Column::LinkedAt, Expr::value(profile.linked_at))
        .filter(profile::Column::Id.eq(profile.id.clone()))
        .filter(profile::Column::Tenant.eq(profile.tenant.clone()))
        .exec(conn)
        .await?;
    link_event::Entity::insert(link_event::ActiveModel::from(event)).exec_without_returning(conn).await?;
    Ok(())
}

/// The `rejected_pairs` table: profile–customer pairs a person said are not the same; never
/// linked automatically again.
#[allow(missing_docs)]
pub mod rejected_pair {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "rejected_pairs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub profile_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub customer_id: String,
        pub at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `customer_merges` table: what each merge moved, so that it can be undone.
#[allow(missing_docs)]
pub mod merge {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "customer_merges")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub survivor_id: String,
        pub merged_id: String,
        /// JSON array of `[kind, value]` identifiers moved to the survivor.
        pub moved_identifiers: String,
        /// JSON array of profile ids re-linked to the survivor.
        pub moved_profiles: String,
        pub actor: String,
        pub reason: Option<String>,
        pub at: ChronoDateTimeUtc,
        pub undone_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

struct CreateDecisions;

impl MigrationName for CreateDecisions {
    fn name(&self) -> &str {
        "m20261123_000300_create_decisions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDecisions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table("customers").add_column(string_null("merged_into")).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("rejected_pairs")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("profile_id"))
                    .col(string("customer_id"))
                    .col(timestamp_with_time_zone("at"))
                    .primary_key(Index::create().col("tenant").col("profile_id").col("customer_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("customer_merges")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("survivor_id"))
                    .col(string("merged_id"))
                    .col(text("moved_identifiers"))
                    .col(text("moved_profiles"))
                    .col(string("actor"))
                    .col(string_null("reason"))
                    .col(timestamp_with_time_zone("at"))
                    .col(timestamp_with_time_zone_null("undone_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("link_events_tenant_profile")
                    .table("link_events")
                    .col("tenant")
                    .col("profile_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("link_events_tenant_customer")
                    .table("link_events")
                    .col("tenant")
                    .col("customer_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["customer_merges", "rejected_pairs"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        manager.alter_table(Table::alter().table("customers").drop_column("merged_into").to_owned()).await
    }
}

/// Whether a person rejected linking this profile to this customer.
pub async fn is_rejected<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    profile_id: &str,
    customer_id: &str,
) -> Result<bool, DbErr> {
    let found = rejected_pair::Entity::find_by_id((tenant.to_owned(), profile_id.to_owned(), customer_id.to_owned()))
        .one(conn)
        .await?;
    Ok(found.is_some())
}

/// Remembers that a person rejected this pair (idempotent).
pub async fn reject_pair<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    profile_id: &str,
    customer_id: &str,
) -> Result<(), DbErr> {
    if is_rejected(conn, tenant, profile_id, customer_id).await? {
        return Ok(());
    }
    let row = rejected_pair::ActiveModel {
        tenant: Set(tenant.to_owned()),
        profile_id: Set(profile_id.to_owned()),
        customer_id: Set(customer_id.to_owned()),
        at: Set(tend_kernel::ids::now()),
    };
    rejected_pair::Entity::insert(row).exec_without_returning(conn).await?;
    Ok(())
}

/// Forgets every rejection of a customer's pairs (when it is erased).
pub async fn forget_rejections<C: ConnectionTrait>(conn: &C, tenant: &str, customer_id: &str) -> Result<(), DbErr> {
    rejected_pair::Entity::delete_many()
        .filter(rejected_pair::Column::Tenant.eq(tenant))
        .filter(rejected_pair::Column::CustomerId.eq(customer_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// The tenant's profiles linked to a customer.
pub async fn profiles_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
) -> Result<Vec<profile::Model>, DbErr> {
    profile::Entity::find()
        .filter(profile::Column::Tenant.eq(tenant))
        .filter(profile::Column::CustomerId.eq(customer_id))
        .all(conn)
        .await
}

/// Appends an audit event.
pub async fn record<C: ConnectionTrait>(conn: &C, event: link_event::Model) -> Result<(), DbErr> {
    link_event::Entity::insert(link_event::ActiveModel::from(event)).exec_without_returning(conn).await?;
    Ok(())
}

/// A page of the audit log of a profile or a customer, newest first.
pub async fn link_events<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    profile_id: Option<&str>,
    customer_id: Option<&str>,
    page: &Page,
) -> Result<Vec<link_event::Model>, DbErr> {
    let mut query = link_event::Entity::find().filter(link_event::Column::Tenant.eq(tenant));
    if let Some(profile_id) = profile_id {
        query = query.filter(link_event::Column::ProfileId.eq(profile_id));
    }
    if let Some(customer_id) = customer_id {
        query = query.filter(link_event::Column::CustomerId.eq(customer_id));
    }
    newest_first(query, link_event::Column::Id, page).all(conn).await
}

/// The identifiers of one customer, as `(kind, value)`.
pub async fn identifiers_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
) -> Result<Vec<(String, String)>, DbErr> {
    let rows = identifier::Entity::find()
        .filter(identifier::Column::Tenant.eq(tenant))
        .filter(identifier::Column::CustomerId.eq(customer_id))
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|row| (row.kind, row.value)).collect())
}

/// Gives a customer these identifiers.
pub async fn add_identifiers<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
    identifiers: &[(String, String)],
) -> Result<(), DbErr> {
    let rows: Vec<identifier::ActiveModel> = identifiers
        .iter()
        .map(|(kind, value)| identifier::ActiveModel {
            tenant: Set(tenant.to_owned()),
            kind: Set(kind.clone()),
            value: Set(value.clone()),
            customer_id: Set(customer_id.to_owned()),
        })
        .collect();
    if !rows.is_empty() {
        identifier::Entity::insert_many(rows).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// Removes identifiers of a customer: these ones, or all when `only` is `None`.
pub async fn remove_identifiers<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
    only: Option<&[(String, String)]>,
) -> Result<(), DbErr> {
    let scope = identifier::Entity::delete_many()
        .filter(identifier::Column::Tenant.eq(tenant))
        .filter(identifier::Column::CustomerId.eq(customer_id));
    match only {
        None => {
            scope.exec(conn).await?;
        }
        Some(identifiers) => {
            for (kind, value) in identifiers {
                identifier::Entity::delete_many()
                    .filter(identifier::Column::Tenant.eq(tenant))
                    .filter(identifier::Column::CustomerId.eq(customer_id))
                    .filter(identifier::Column::Kind.eq(kind.as_str()))
                    .filter(identifier::Column::Value.eq(value.as_str()))
                    .exec(conn)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Sets (or clears) which customer a customer was merged into.
pub async fn set_merged_into<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
    into: Option<&str>,
) -> Result<(), DbErr> {
    customer::Entity::update_many()
        .col_expr(customer::Column::MergedInto, Expr::value(into.map(str::to_owned)))
        .filter(customer::Column::Tenant.eq(tenant))
        .filter(customer::Column::Id.eq(customer_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// The customers merged into `customer_id`.
pub async fn merged_into<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
) -> Result<Vec<customer::Model>, DbErr> {
    customer::Entity::find()
        .filter(customer::Column::Tenant.eq(tenant))
        .filter(customer::Column::MergedInto.eq(customer_id))
        .all(conn)
        .await
}

/// Saves a merge record (new, or its `undone_at`).
pub async fn save_merge<C: ConnectionTrait>(conn: &C, row: merge::Model, is_new: bool) -> Result<(), DbErr> {
    save(conn, merge::ActiveModel::from(row), is_new).await
}

/// One merge of a tenant.
pub async fn find_merge<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<merge::Model>, DbErr> {
    merge::Entity::find_by_id(id.to_owned()).filter(merge::Column::Tenant.eq(tenant)).one(conn).await
}

/// Erases a customer's row, identifiers, linked profiles and rejections, and blanks the
/// evidence and reasons of their audit trail (which quote handles and emails).
pub async fn erase<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
    profile_ids: &[String],
) -> Result<(), DbErr> {
    remove_identifiers(conn, tenant, customer_id, None).await?;
    forget_rejections(conn, tenant, customer_id).await?;
    profile::Entity::delete_many()
        .filter(profile::Column::Tenant.eq(tenant))
        .filter(profile::Column::Id.is_in(profile_ids.iter().cloned()))
        .exec(conn)
        .await?;
    link_event::Entity::update_many()
        .col_expr(link_event::Column::Evidence, Expr::value("[erased]"))
        .col_expr(link_event::Column::Reason, Expr::value(Option::<String>::None))
        .filter(link_event::Column::Tenant.eq(tenant))
        .filter(
            sea_orm::Condition::any()
                .add(link_event::Column::CustomerId.eq(customer_id))
                .add(link_event::Column::ProfileId.is_in(profile_ids.iter().cloned())),
        )
        .exec(conn)
        .await?;
    customer::Entity::delete_many()
        .filter(customer::Column::Tenant.eq(tenant))
        .filter(customer::Column::Id.eq(customer_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Forgets a person's rejection of one pair.
pub async fn forget_rejection<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    profile_id: &str,
    customer_id: &str,
) -> Result<(), DbErr> {
    rejected_pair::Entity::delete_many()
        .filter(rejected_pair::Column::Tenant.eq(tenant))
        .filter(rejected_pair::Column::ProfileId.eq(profile_id))
        .filter(rejected_pair::Column::CustomerId.eq(customer_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// The `matcher_models` table: each tenant's trained matcher and thresholds.
#[allow(missing_docs)]
pub mod matcher_model {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "matcher_models")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        /// The `tend_matching::Model` as JSON; empty until trained.
        pub model: String,
        pub link_threshold: f64,
        pub review_threshold: f64,
        pub trained_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `review_candidates` table: likely links waiting for a person.
#[allow(missing_docs)]
pub mod candidate {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "review_candidates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub profile_id: String,
        pub customer_id: String,
        pub probability: f64,
        /// The `MatchExplanation`, protobuf-encoded.
        pub explanation: Vec<u8>,
        /// "pending", "confirmed" or "rejected".
        pub status: String,
        pub proposed_at: ChronoDateTimeUtc,
        pub decided_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

struct CreateMatcher;

impl MigrationName for CreateMatcher {
    fn name(&self) -> &str {
        "m20261123_000400_create_matcher"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateMatcher {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [string("email").default("").to_owned(), text("location").default("").to_owned()] {
            manager.alter_table(Table::alter().table("profiles").add_column(column).to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("matcher_models")
                    .if_not_exists()
                    .col(string("tenant").primary_key())
                    .col(text("model"))
                    .col(double("link_threshold"))
                    .col(double("review_threshold"))
                    .col(timestamp_with_time_zone_null("trained_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("review_candidates")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("profile_id"))
                    .col(string("customer_id"))
                    .col(double("probability"))
                    .col(blob("explanation"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("proposed_at"))
                    .col(timestamp_with_time_zone_null("decided_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("review_candidates_tenant_status")
                    .table("review_candidates")
                    .col("tenant")
                    .col("status")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["review_candidates", "matcher_models"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        for column in ["location", "email"] {
            manager.alter_table(Table::alter().table("profiles").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

/// The tenant's matcher row, if any.
pub async fn matcher_of<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Option<matcher_model::Model>, DbErr> {
    matcher_model::Entity::find_by_id(tenant.to_owned()).one(conn).await
}

/// Saves the tenant's matcher row.
pub async fn save_matcher<C: ConnectionTrait>(conn: &C, row: matcher_model::Model, is_new: bool) -> Result<(), DbErr> {
    save(conn, matcher_model::ActiveModel::from(row), is_new).await
}

/// Every profile of a tenant (for training).
pub async fn all_profiles<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<profile::Model>, DbErr> {
    profile::Entity::find().filter(profile::Column::Tenant.eq(tenant)).all(conn).await
}

/// Every live (not merged) customer of a tenant, with its identifiers (for training and matching).
pub async fn all_customers<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<customer::Model>, DbErr> {
    customer::Entity::find()
        .filter(customer::Column::Tenant.eq(tenant))
        .filter(customer::Column::MergedInto.is_null())
        .all(conn)
        .await
}

/// Whether a profile has a pending candidate.
pub async fn has_pending_candidate<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    profile_id: &str,
) -> Result<bool, DbErr> {
    let found = candidate::Entity::find()
        .filter(candidate::Column::Tenant.eq(tenant))
        .filter(candidate::Column::ProfileId.eq(profile_id))
        .filter(candidate::Column::Status.eq("pending"))
        .one(conn)
        .await?;
    Ok(found.is_some())
}

/// Inserts or updates a candidate.
pub async fn save_candidate<C: ConnectionTrait>(conn: &C, row: candidate::Model, is_new: bool) -> Result<(), DbErr> {
    save(conn, candidate::ActiveModel::from(row), is_new).await
}

/// One candidate of a tenant.
pub async fn find_candidate<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    id: &str,
) -> Result<Option<candidate::Model>, DbErr> {
    candidate::Entity::find_by_id(id.to_owned()).filter(candidate::Column::Tenant.eq(tenant)).one(conn).await
}

/// A page of the tenant's pending candidates, newest first.
pub async fn pending_candidates<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    page: &Page,
) -> Result<Vec<candidate::Model>, DbErr> {
    let query = candidate::Entity::find()
        .filter(candidate::Column::Tenant.eq(tenant))
        .filter(candidate::Column::Status.eq("pending"));
    newest_first(query, candidate::Column::Id, page).all(conn).await
}

/// Saves a profile's customer and status without an audit entry (a candidate is not a link).
pub async fn update_link_status<C: ConnectionTrait>(conn: &C, profile: &profile::Model) -> Result<(), DbErr> {
    profile::Entity::update_many()
        .col_expr(profile::Column::CustomerId, Expr::value(profile.customer_id.clone()))
        .col_expr(profile::Column::Status, Expr::value(profile.status.clone()))
        .filter(profile::Column::Id.eq(profile.id.clone()))
        .filter(profile::Column::Tenant.eq(profile.tenant.clone()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Drops a tenant's trained model, keeping its thresholds.
pub async fn clear_model<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<(), DbErr> {
    matcher_model::Entity::update_many()
        .col_expr(matcher_model::Column::Model, Expr::value(""))
        .col_expr(matcher_model::Column::TrainedAt, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None))
        .filter(matcher_model::Column::Tenant.eq(tenant))
        .exec(conn)
        .await?;
    Ok(())
}
