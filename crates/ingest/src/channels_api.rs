//! The gRPC face of the monitored-channels registry (`tend.v1.ChannelService`).

use std::sync::Arc;

use tend_kernel::auth::{Access, caller};
use tend_kernel::ids::parse_id;
use tend_proto::v1;
use tonic::{Request, Response, Status};

use crate::registry::{self, Channels};

/// Implements `tend.v1.ChannelService`.
pub struct ChannelsApi {
    channels: Arc<Channels>,
    deliveries: Arc<crate::replies::Deliveries>,
}

impl ChannelsApi {
    /// An API over the registry and the reply delivery log.
    pub fn new(channels: Arc<Channels>, deliveries: Arc<crate::replies::Deliveries>) -> Self {
        Self { channels, deliveries }
    }
}

#[tonic::async_trait]
impl v1::channel_service_server::ChannelService for ChannelsApi {
    async fn upsert_app(&self, request: Request<v1::UpsertAppRequest>) -> Result<Response<v1::ChannelApp>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        Ok(Response::new(registry::upsert_app(&self.channels, &caller.tenant, request.into_inner()).await?))
    }

    async fn upsert_account(
        &self,
        request: Request<v1::UpsertAccountRequest>,
    ) -> Result<Response<v1::ChannelAccount>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let (account, _) = registry::upsert_account(&self.channels, &caller.tenant, request.into_inner()).await?;
        Ok(Response::new(account))
    }

    async fn disable_account(
        &self,
        request: Request<v1::DisableAccountRequest>,
    ) -> Result<Response<v1::ChannelAccount>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(registry::disable_account(&self.channels, &caller.tenant, &id).await?))
    }

    async fn get_channel(
        &self,
        request: Request<v1::GetChannelRequest>,
    ) -> Result<Response<v1::ChannelAccount>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let snapshot = self.channels.snapshot();
        let account = snapshot
            .account(&id)
            .filter(|account| account.tenant == caller.tenant.as_str())
            .ok_or_else(|| tend_kernel::ApiError::not_found("account", &id))?;
        Ok(Response::new(registry::account_to_proto(&snapshot, account)))
    }

    async fn list_channels(
        &self,
        request: Request<v1::ListChannelsRequest>,
    ) -> Result<Response<v1::ListChannelsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let snapshot = self.channels.snapshot();
        let (apps, accounts) = snapshot.of_tenant(caller.tenant.as_str());
        Ok(Response::new(v1::ListChannelsResponse {
            apps: apps.into_iter().map(|app| registry::app_to_proto(app)).collect(),
            accounts: accounts.into_iter().map(|account| registry::account_to_proto(&snapshot, account)).collect(),
        }))
    }

    async fn get_reply_delivery(
        &self,
        request: Request<v1::GetReplyDeliveryRequest>,
    ) -> Result<Response<v1::ReplyDelivery>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let reply_id = request.get_ref().reply_id.trim();
        if reply_id.is_empty() {
            return Err(tend_kernel::ApiError::invalid("reply_id", "is required").into());
        }
        Ok(Response::new(self.deliveries.get(caller.tenant.as_str(), reply_id).await?))
    }
}
