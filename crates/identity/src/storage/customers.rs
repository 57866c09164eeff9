//! Customers: the CRM's view of each customer (`customers`) and the normalised identifiers
//! deterministic linking looks up (`customer_identifiers`).

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait as _, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use tend_kernel::paging::Page;
use tend_store::query::{newest_first, save};
use tend_store::{DbContext as _, Error};

use super::ROWS_PER_STATEMENT;

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

/// A customer holding an identifier, as deterministic linking needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The customer.
    pub customer_id: String,
    /// Its CRM id, for the evidence people read (empty if the customer row is missing).
    pub crm_id: String,
}

/// Who holds which identifiers: `(kind, value)` → the customers with it (several for a shared
/// family email). Looked up by borrowed values, so reading it allocates nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holders(HashMap<String, Vec<(String, Holder)>>);

impl Holders {
    /// Records that `holder` has the identifier `kind` `value`.
    pub fn insert(&mut self, kind: String, value: String, holder: Holder) {
        self.0.entry(value).or_default().push((kind, holder));
    }

    /// The customers with the identifier `kind` `value`.
    pub fn of<'a>(&'a self, kind: &'a str, value: &str) -> impl Iterator<Item = &'a Holder> + 'a {
        let holders = self.0.get(value).map(Vec::as_slice).unwrap_or_default();
        holders.iter().filter(move |(held, _)| held == kind).map(|(_, holder)| holder)
    }

    /// Whether nobody holds any of the identifiers asked about.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One customer of a tenant (merged ones included).
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<customer::Model>, Error> {
    customer::Entity::find_by_id(id.to_owned())
        .filter(customer::Column::Tenant.eq(tenant))
        .one(conn)
        .await
        .context("reading a customer")
}

/// These customers of a tenant, by id, in one query per [`ROWS_PER_STATEMENT`] ids.
pub async fn find_many<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    ids: &[&str],
) -> Result<HashMap<String, customer::Model>, Error> {
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let rows = customer::Entity::find()
            .filter(customer::Column::Tenant.eq(tenant))
            .filter(customer::Column::Id.is_in(chunk.iter().copied()))
            .all(conn)
            .await
            .context(format!("reading {} customers", chunk.len()))?;
        found.extend(rows.into_iter().map(|row| (row.id.clone(), row)));
    }
    Ok(found)
}

/// The tenant's customer with this CRM id, if any.
pub async fn find_by_crm_id<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    crm_id: &str,
) -> Result<Option<customer::Model>, Error> {
    customer::Entity::find()
        .filter(customer::Column::Tenant.eq(tenant))
        .filter(customer::Column::CrmId.eq(crm_id))
        .one(conn)
        .await
        .context("reading a customer by CRM id")
}

/// Inserts or replaces a customer row and its identifiers (`(kind, value)` pairs).
///
/// A new customer whose CRM id another transaction just stored fails with a unique violation
/// ([`Error::is_unique_violation`]).
pub async fn save_customer<C: ConnectionTrait>(
    conn: &C,
    row: customer::Model,
    identifiers: &[(&'static str, String)],
    is_new: bool,
) -> Result<(), Error> {
    let tenant = row.tenant.clone();
    let customer_id = row.id.clone();
    save(conn, customer::ActiveModel::from(row), is_new).await.context("saving a customer")?;
    if !is_new {
        remove_identifiers(conn, &tenant, &customer_id, None).await?;
    }
    let identifiers: Vec<(String, String)> =
        identifiers.iter().map(|(kind, value)| ((*kind).to_owned(), value.clone())).collect();
    add_identifiers(conn, &tenant, &customer_id, &identifiers).await
}

/// Who holds each of the `offered` identifiers (`(kind, value)` pairs), in one query per
/// [`ROWS_PER_STATEMENT`] values.
pub async fn holders<C: ConnectionTrait>(conn: &C, tenant: &str, offered: &[(&str, &str)]) -> Result<Holders, Error> {
    let identifiers = Alias::new("customer_identifiers");
    let customers = Alias::new("customers");
    let mut found = Holders::default();
    // The kinds as well as the values, so the lookup seeks in the (tenant, kind, value, …) key
    // instead of reading every identifier of the tenant (10 ms a batch at 24,000 identifiers,
    // and growing with the CRM). A value found under another offered kind is kept too; callers
    // ask by kind and value.
    let mut kinds: Vec<&str> = offered.iter().map(|(kind, _)| *kind).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut values: Vec<&str> = offered.iter().map(|(_, value)| *value).collect();
    values.sort_unstable();
    values.dedup();
    for chunk in values.chunks(ROWS_PER_STATEMENT) {
        // The CRM id comes along for the evidence text, so that a link costs no second query.
        let mut select = Query::select();
        select
            .column((identifiers.clone(), Alias::new("kind")))
            .column((identifiers.clone(), Alias::new("value")))
            .column((identifiers.clone(), Alias::new("customer_id")))
            .column((customers.clone(), Alias::new("crm_id")))
            .from(identifiers.clone())
            .left_join(
                customers.clone(),
                Condition::all()
                    .add(
                        Expr::col((customers.clone(), Alias::new("id")))
                            .equals((identifiers.clone(), Alias::new("customer_id"))),
                    )
                    .add(
                        Expr::col((customers.clone(), Alias::new("tenant")))
                            .equals((identifiers.clone(), Alias::new("tenant"))),
                    ),
            )
            .and_where(Expr::col((identifiers.clone(), Alias::new("tenant"))).eq(tenant))
            .and_where(Expr::col((identifiers.clone(), Alias::new("kind"))).is_in(kinds.iter().copied()))
            .and_where(Expr::col((identifiers.clone(), Alias::new("value"))).is_in(chunk.iter().copied()));
        let statement = conn.get_database_backend().build(&select);
        let rows = conn.query_all_raw(statement).await.context("looking up identifiers")?;
        for row in rows {
            let kind: String = row.try_get("", "kind").context("reading an identifier")?;
            let value: String = row.try_get("", "value").context("reading an identifier")?;
            let customer_id: String = row.try_get("", "customer_id").context("reading an identifier")?;
            let crm_id: Option<String> = row.try_get("", "crm_id").context("reading an identifier")?;
            found.insert(kind, value, Holder { customer_id, crm_id: crm_id.unwrap_or_default() });
        }
    }
    Ok(found)
}

/// A page of a tenant's customers, newest first, leaving out merged ones.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: &str, page: &Page) -> Result<Vec<customer::Model>, Error> {
    let query = customer::Entity::find()
        .filter(customer::Column::Tenant.eq(tenant))
        .filter(customer::Column::MergedInto.is_null());
    newest_first(query, customer::Column::Id, page).all(conn).await.context("listing customers")
}

/// Every live (not merged) customer of a tenant (for training and matching).
pub async fn live<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<customer::Model>, Error> {
    customer::Entity::find()
        .filter(customer::Column::Tenant.eq(tenant))
        .filter(customer::Column::MergedInto.is_null())
        .all(conn)
        .await
        .context("reading every live customer")
}

/// The customers merged into `customer_id`.
pub async fn merged_into<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
) -> Result<Vec<customer::Model>, Error> {
    customer::Entity::find()
        .filter(customer::Column::Tenant.eq(tenant))
        .filter(customer::Column::MergedInto.eq(customer_id))
        .all(conn)
        .await
        .context("reading the customers merged into another")
}

/// Sets (or clears) which customer a customer was merged into.
pub async fn set_merged_into<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
    into: Option<&str>,
) -> Result<(), Error> {
    customer::Entity::update_many()
        .col_expr(customer::Column::MergedInto, Expr::value(into.map(str::to_owned)))
        .filter(customer::Column::Tenant.eq(tenant))
        .filter(customer::Column::Id.eq(customer_id))
        .exec(conn)
        .await
        .context("marking a customer merged")?;
    Ok(())
}

/// The identifiers of one customer, as `(kind, value)`.
pub async fn identifiers_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
) -> Result<Vec<(String, String)>, Error> {
    let rows = identifier::Entity::find()
        .filter(identifier::Column::Tenant.eq(tenant))
        .filter(identifier::Column::CustomerId.eq(customer_id))
        .all(conn)
        .await
        .context("reading a customer's identifiers")?;
    Ok(rows.into_iter().map(|row| (row.kind, row.value)).collect())
}

/// Gives a customer these identifiers (`(kind, value)`).
pub async fn add_identifiers<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
    identifiers: &[(String, String)],
) -> Result<(), Error> {
    for chunk in identifiers.chunks(ROWS_PER_STATEMENT) {
        let rows = chunk.iter().map(|(kind, value)| identifier::ActiveModel {
            tenant: Set(tenant.to_owned()),
            kind: Set(kind.clone()),
            value: Set(value.clone()),
            customer_id: Set(customer_id.to_owned()),
        });
        identifier::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await
            .context("storing a customer's identifiers")?;
    }
    Ok(())
}

/// Removes identifiers of a customer: these ones, or all when `only` is `None`.
pub async fn remove_identifiers<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
    only: Option<&[(String, String)]>,
) -> Result<(), Error> {
    let mut scope = identifier::Entity::delete_many()
        .filter(identifier::Column::Tenant.eq(tenant))
        .filter(identifier::Column::CustomerId.eq(customer_id));
    if let Some(identifiers) = only {
        if identifiers.is_empty() {
            return Ok(());
        }
        let any = identifiers.iter().fold(Condition::any(), |any, (kind, value)| {
            any.add(
                Condition::all()
                    .add(identifier::Column::Kind.eq(kind.as_str()))
                    .add(identifier::Column::Value.eq(value.as_str())),
            )
        });
        scope = scope.filter(any);
    }
    scope.exec(conn).await.context("removing a customer's identifiers")?;
    Ok(())
}
