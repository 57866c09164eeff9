//! The gRPC face of enrichment: dry runs, the tenant's classifiers and topic dictionary.

use std::sync::Arc;

use prost::Message as _;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tend_kernel::ApiError;
use tend_kernel::auth::{Access, caller};
use tend_kernel::ids::to_timestamp;
use tend_proto::v1;
use tend_store::DbContext as _;
use tend_text::{Analyzer, Task, TrainOptions};
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

use crate::domain::MAX_TEXT_BYTES;
use crate::enrich::{self, Analyzers};
use crate::storage::{classifiers, topics};
use crate::teach::{self, ModelChoice};

/// Implements `tend.v1.EnrichmentService` over ingest's database.
pub struct EnrichmentApi {
    db: DatabaseConnection,
    analyzers: Arc<Analyzers>,
    /// Trainings and evaluations take a core for seconds: one at a time per process, so posts
    /// keep flowing on the other.
    heavy_work: Semaphore,
}

impl EnrichmentApi {
    /// An API over `db`, sharing ingest's analysers (so a change applies to the next post).
    pub fn new(db: DatabaseConnection, analyzers: Arc<Analyzers>) -> Self {
        Self { db, analyzers, heavy_work: Semaphore::new(1) }
    }

    async fn train(&self, tenant: &str, request: v1::TrainClassifierRequest) -> Result<v1::Classifier, ApiError> {
        let task = teach::task(request.task)?;
        let examples = teach::examples(task, request.examples, teach::MIN_TRAINING_EXAMPLES)?;
        teach::require_two_labels(&examples)?;
        let (training, holdout) = teach::split_holdout(examples);
        teach::require_two_labels(&training)?;
        let trained_on = training.len();
        let _turn = self.heavy_work.acquire().await.map_err(ApiError::internal)?;
        let (model, evaluation) = blocking(move || {
            let model = tend_text::train(task, &training, &TrainOptions::default())
                .map_err(|error| ApiError::invalid("examples", error.to_string()))?;
            let evaluation = tend_text::evaluate(&model, &holdout);
            Ok((model, evaluation))
        })
        .await?;
        let now = tend_kernel::ids::now();
        let labels = model.labels().to_vec();
        let txn = self.db.begin().await.context("starting a transaction")?;
        let version =
            classifiers::next_version(&txn, tenant, request.task).await.context("numbering the classifier")?;
        let holdout = evaluation_to_proto(&enrich::version_name(version), &evaluation);
        let row = classifiers::classifier::Model {
            tenant: tenant.to_owned(),
            task: request.task,
            version,
            labels: serde_json::to_string(&labels).map_err(ApiError::internal)?,
            trained_on: i32::try_from(trained_on).unwrap_or(i32::MAX),
            holdout: holdout.encode_to_vec(),
            model: model.to_bytes(),
            description: request.description.trim().to_owned(),
            created_at: now,
        };
        // Two trainings at once on different replicas may take the same number: the loser's
        // insert fails on the key, which answers ABORTED and a retry takes the next one.
        classifiers::insert(&txn, row).await.context("storing the classifier")?;
        txn.commit().await.context("committing the classifier")?;
        tracing::info!(tenant, task = ?task, version, trained_on, accuracy = evaluation.accuracy, "classifier trained");
        Ok(v1::Classifier {
            task: request.task,
            version: enrich::version_name(version),
            labels,
            trained_on: u32::try_from(trained_on).unwrap_or(u32::MAX),
            holdout: Some(holdout),
            active: false,
            created_at: Some(to_timestamp(now)),
            description: request.description.trim().to_owned(),
        })
    }

    async fn evaluate(&self, tenant: &str, request: v1::EvaluateClassifierRequest) -> Result<v1::Evaluation, ApiError> {
        let task = teach::task(request.task)?;
        let examples = teach::examples(task, request.examples, 1)?;
        let version = match teach::version("version", &request.version, true)? {
            ModelChoice::Active => classifiers::active_version(&self.db, tenant, request.task)
                .await
                .context("reading the active classifier")?,
            ModelChoice::Version(version) => version,
        };
        let name = enrich::version_name(version);
        let model = if version == classifiers::BUILTIN {
            None
        } else {
            let row = classifiers::find(&self.db, tenant, request.task, version)
                .await
                .context("reading the classifier")?
                .ok_or_else(|| ApiError::not_found("classifier", name.clone()))?;
            Some(tend_text::Model::from_bytes(&row.model).map_err(ApiError::internal)?)
        };
        let _turn = self.heavy_work.acquire().await.map_err(ApiError::internal)?;
        let evaluation = blocking(move || {
            Ok(match (&model, task) {
                (Some(model), _) => tend_text::evaluate(model, &examples),
                (None, Task::Sentiment) => tend_text::evaluate(&tend_text::BuiltinSentiment, &examples),
                (None, Task::Intent) => tend_text::evaluate(&tend_text::BuiltinIntent::default(), &examples),
            })
        })
        .await?;
        Ok(evaluation_to_proto(&name, &evaluation))
    }

    async fn list(
        &self,
        tenant: &str,
        request: v1::ListClassifiersRequest,
    ) -> Result<v1::ListClassifiersResponse, ApiError> {
        teach::task(request.task)?;
        let active = classifiers::active_version(&self.db, tenant, request.task)
            .await
            .context("reading the active classifier")?;
        let rows = classifiers::list(&self.db, tenant, request.task).await.context("listing classifiers")?;
        let classifiers = rows
            .into_iter()
            .map(|row| v1::Classifier {
                task: request.task,
                version: enrich::version_name(row.version),
                labels: serde_json::from_str(&row.labels).unwrap_or_default(),
                trained_on: u32::try_from(row.trained_on).unwrap_or(0),
                holdout: v1::Evaluation::decode(row.holdout.as_slice()).ok(),
                active: row.version == active,
                created_at: Some(to_timestamp(row.created_at)),
                description: row.description,
            })
            .collect();
        Ok(v1::ListClassifiersResponse { classifiers, active_version: enrich::version_name(active) })
    }

    async fn activate(
        &self,
        tenant: &str,
        request: v1::ActivateClassifierRequest,
    ) -> Result<v1::ActivateClassifierResponse, ApiError> {
        teach::task(request.task)?;
        let ModelChoice::Version(version) = teach::version("version", &request.version, false)? else {
            return Err(ApiError::invalid("version", "is required: a version like \"v3\", or \"builtin\""));
        };
        let txn = self.db.begin().await.context("starting a transaction")?;
        if version != classifiers::BUILTIN
            && classifiers::find(&txn, tenant, request.task, version).await.context("reading the classifier")?.is_none()
        {
            return Err(ApiError::not_found("classifier", enrich::version_name(version)));
        }
        let previous =
            classifiers::active_version(&txn, tenant, request.task).await.context("reading the active classifier")?;
        classifiers::set_active(&txn, tenant, request.task, version, tend_kernel::ids::now())
            .await
            .context("activating the classifier")?;
        txn.commit().await.context("committing the activation")?;
        self.analyzers.invalidate(tenant);
        tracing::info!(tenant, task = request.task, version, previous, "classifier activated");
        Ok(v1::ActivateClassifierResponse {
            task: request.task,
            active_version: enrich::version_name(version),
            previous_version: enrich::version_name(previous),
        })
    }

    async fn put_topics(&self, tenant: &str, request: v1::PutTopicsRequest) -> Result<v1::TopicDictionary, ApiError> {
        let checked = teach::topics(request.topics)?;
        let now = tend_kernel::ids::now();
        topics::put(&self.db, tenant, &checked, now).await.context("storing the topic dictionary")?;
        self.analyzers.invalidate(tenant);
        Ok(dictionary_to_proto(checked, Some(now)))
    }

    async fn get_topics(&self, tenant: &str) -> Result<v1::TopicDictionary, ApiError> {
        Ok(match topics::get(&self.db, tenant).await.context("reading the topic dictionary")? {
            Some((stored, updated_at)) => dictionary_to_proto(stored, Some(updated_at)),
            None => dictionary_to_proto(Vec::new(), None),
        })
    }

    async fn dry_run(&self, tenant: &str, request: v1::EnrichRequest) -> Result<v1::Enrichment, ApiError> {
        if request.text.trim().is_empty() || request.text.len() > MAX_TEXT_BYTES {
            return Err(ApiError::invalid("text", format!("must be 1 to {MAX_TEXT_BYTES} bytes of text")));
        }
        let channel = v1::Channel::try_from(request.channel).unwrap_or(v1::Channel::Chat);
        let channel = if channel == v1::Channel::Unspecified { v1::Channel::Chat } else { channel };
        let analyzer: Arc<Analyzer> = self.analyzers.for_tenant(tenant).await?;
        Ok(enrich::enrich(&analyzer, &request.text, channel, Some(request.language_hint.as_str())))
    }
}

/// Runs CPU-bound work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)?
}

fn evaluation_to_proto(model: &str, evaluation: &tend_text::Evaluation) -> v1::Evaluation {
    let count = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
    v1::Evaluation {
        model: model.to_owned(),
        examples: count(evaluation.examples),
        accuracy: evaluation.accuracy,
        macro_f1: evaluation.macro_f1,
        per_label: evaluation
            .per_class
            .iter()
            .map(|class| v1::LabelScore {
                label: class.label.clone(),
                precision: class.precision,
                recall: class.recall,
                f1: class.f1,
                support: count(class.support),
            })
            .collect(),
        labels: evaluation.labels.clone(),
        confusion: evaluation.confusion.iter().flatten().map(|cell| count(*cell)).collect(),
    }
}

fn dictionary_to_proto(
    stored: Vec<topics::StoredTopic>,
    updated_at: Option<chrono::DateTime<chrono::Utc>>,
) -> v1::TopicDictionary {
    v1::TopicDictionary {
        topics: stored.into_iter().map(|topic| v1::Topic { name: topic.name, keywords: topic.keywords }).collect(),
        updated_at: updated_at.map(to_timestamp),
    }
}

#[tonic::async_trait]
impl v1::enrichment_service_server::EnrichmentService for EnrichmentApi {
    async fn enrich(&self, request: Request<v1::EnrichRequest>) -> Result<Response<v1::Enrichment>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        Ok(Response::new(self.dry_run(caller.tenant.as_str(), request.into_inner()).await?))
    }

    async fn train_classifier(
        &self,
        request: Request<v1::TrainClassifierRequest>,
    ) -> Result<Response<v1::Classifier>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        Ok(Response::new(self.train(caller.tenant.as_str(), request.into_inner()).await?))
    }

    async fn evaluate_classifier(
        &self,
        request: Request<v1::EvaluateClassifierRequest>,
    ) -> Result<Response<v1::Evaluation>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        Ok(Response::new(self.evaluate(caller.tenant.as_str(), request.into_inner()).await?))
    }

    async fn list_classifiers(
        &self,
        request: Request<v1::ListClassifiersRequest>,
    ) -> Result<Response<v1::ListClassifiersResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        Ok(Response::new(self.list(caller.tenant.as_str(), request.into_inner()).await?))
    }

    async fn activate_classifier(
        &self,
        request: Request<v1::ActivateClassifierRequest>,
    ) -> Result<Response<v1::ActivateClassifierResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        Ok(Response::new(self.activate(caller.tenant.as_str(), request.into_inner()).await?))
    }

    async fn put_topics(
        &self,
        request: Request<v1::PutTopicsRequest>,
    ) -> Result<Response<v1::TopicDictionary>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        Ok(Response::new(EnrichmentApi::put_topics(self, caller.tenant.as_str(), request.into_inner()).await?))
    }

    async fn get_topics(
        &self,
        request: Request<v1::GetTopicsRequest>,
    ) -> Result<Response<v1::TopicDictionary>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        Ok(Response::new(EnrichmentApi::get_topics(self, caller.tenant.as_str()).await?))
    }
}
