//! [`ServiceZoneHandler`]: a [`ServiceZone`] as a hickory zone handler.

use std::sync::Arc;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{LowerName, RecordType, TSigResponseContext};
use hickory_server::server::{Request, RequestInfo};
use hickory_server::zone_handler::{
    AuthLookup, AxfrPolicy, LookupControlFlow, LookupError, LookupOptions, LookupRecords,
    ZoneHandler, ZoneType,
};

use super::{Answer, ServiceZone};

/// Answers for a [`ServiceZone`] as its primary: records from the zone's
/// table, NXDOMAIN for names it does not have (with the SOA, which the
/// [`Catalog`](hickory_server::zone_handler::Catalog) adds), no zone
/// transfers and no updates.
#[derive(Clone, Debug)]
pub struct ServiceZoneHandler {
    zone: Arc<ServiceZone>,
}

impl ServiceZoneHandler {
    /// A handler over `zone`; register it in a catalog under
    /// [`ServiceZone::origin`].
    pub fn new(zone: Arc<ServiceZone>) -> Self {
        Self { zone }
    }
}

#[async_trait::async_trait]
impl ZoneHandler for ServiceZoneHandler {
    fn zone_type(&self) -> ZoneType {
        ZoneType::Primary
    }

    fn axfr_policy(&self) -> AxfrPolicy {
        AxfrPolicy::Deny
    }

    fn origin(&self) -> &LowerName {
        self.zone.origin()
    }

    async fn lookup(
        &self,
        name: &LowerName,
        rtype: RecordType,
        _request_info: Option<&RequestInfo<'_>>,
        options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        let result = match self.zone.resolve(name, rtype) {
            Answer::Records {
                answers,
                additionals,
            } => Ok(AuthLookup::answers(
                LookupRecords::many(options, answers),
                additionals.map(|set| LookupRecords::new(options, set)),
            )),
            Answer::NoData => Err(LookupError::NameExists),
            Answer::NxDomain => Err(LookupError::from(ResponseCode::NXDomain)),
            // The catalog only asks for names under the origin.
            Answer::NotInZone => Err(LookupError::from(ResponseCode::Refused)),
        };
        LookupControlFlow::Continue(result)
    }

    async fn search(
        &self,
        request: &Request,
        options: LookupOptions,
    ) -> (LookupControlFlow<AuthLookup>, Option<TSigResponseContext>) {
        let info = match request.request_info() {
            Ok(info) => info,
            Err(error) => return (LookupControlFlow::Break(Err(error)), None),
        };
        let lookup = self
            .lookup(
                info.query.name(),
                info.query.query_type(),
                Some(&info),
                options,
            )
            .await;
        (lookup, None)
    }

    async fn nsec_records(
        &self,
        _name: &LowerName,
        _options: LookupOptions,
    ) -> LookupControlFlow<AuthLookup> {
        // The zone is not signed: there is no NSEC chain to answer from.
        LookupControlFlow::Continue(Err(LookupError::from(ResponseCode::NotImp)))
    }
}
