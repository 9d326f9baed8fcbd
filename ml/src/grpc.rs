//! The gRPC face of the anomaly service: translate, call [`Anomaly`], translate back.

use aerostic_kit::ApiError;
use aerostic_kit::identity::IdentitySeal;
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::anomaly_server::Anomaly as AnomalyRpc;
use tonic::{Request, Response, Status};

use crate::baseline::Trained;
use crate::detect::MitigationKind;
use crate::entity::anomaly_alert;
use crate::mitigations::Active;
use crate::service::{Anomaly, MAX_SCORE_BATCH};
use crate::subject::{Subject, SubjectKind};
use crate::window::{self, FEATURES};

/// Serves [`AnomalyRpc`] over the domain.
pub struct AnomalyGrpc {
    /// The domain.
    pub anomaly: Anomaly,
    /// Opens the caller identity the gateway sealed.
    pub seal: IdentitySeal,
}

fn kind_pb(kind: SubjectKind) -> pb::SubjectKind {
    match kind {
        SubjectKind::Tenant => pb::SubjectKind::Tenant,
        SubjectKind::ApiKey => pb::SubjectKind::ApiKey,
        SubjectKind::Ip => pb::SubjectKind::Ip,
        SubjectKind::Account => pb::SubjectKind::Account,
        SubjectKind::Platform => pb::SubjectKind::Platform,
    }
}

/// The kind a wire value names; `None` when unspecified.
fn kind_of(kind: pb::SubjectKind) -> Option<SubjectKind> {
    match kind {
        pb::SubjectKind::Tenant => Some(SubjectKind::Tenant),
        pb::SubjectKind::ApiKey => Some(SubjectKind::ApiKey),
        pb::SubjectKind::Ip => Some(SubjectKind::Ip),
        pb::SubjectKind::Account => Some(SubjectKind::Account),
        pb::SubjectKind::Platform => Some(SubjectKind::Platform),
        pb::SubjectKind::Unspecified => None,
    }
}

fn mitigation_pb(kind: Option<MitigationKind>) -> pb::Mitigation {
    match kind {
        None => pb::Mitigation::None,
        Some(MitigationKind::Throttle { .. }) => pb::Mitigation::Throttle,
        Some(MitigationKind::BlockKey) => pb::Mitigation::BlockKey,
        Some(MitigationKind::LockLogin) => pb::Mitigation::LockLogin,
    }
}

fn active_pb(a: Active) -> pb::ActiveMitigation {
    pb::ActiveMitigation {
        id: a.id,
        kind: mitigation_pb(Some(a.kind)).into(),
        subject_kind: kind_pb(a.subject.kind).into(),
        subject_id: a.subject.id,
        tenant_id: a.tenant_id.unwrap_or_default(),
        limit_per_minute: a.kind.per_minute(),
        expires_at: Some(aerostic_proto::timestamp(a.expires_at)),
        alert_id: a.alert_id,
    }
}

fn alert_pb(a: anomaly_alert::Model, mitigation: Option<MitigationKind>) -> pb::Alert {
    pb::Alert {
        id: a.id,
        subject_kind: SubjectKind::parse(&a.subject_kind)
            .map_or(pb::SubjectKind::Unspecified, kind_pb)
            .into(),
        subject_id: a.subject_id,
        score: a.score,
        mitigation: mitigation_pb(mitigation).into(),
        raised_at: Some(aerostic_proto::timestamp(a.raised_at)),
        detector: a.detector,
        tenant_id: a.tenant_id.unwrap_or_default(),
        detail: a.detail,
        mitigation_id: a.mitigation_id.unwrap_or_default(),
        features: a.features,
    }
}

fn info_pb(t: &Trained, gathered: usize) -> pb::ModelInfoResponse {
    pb::ModelInfoResponse {
        version: t.version.clone(),
        trees: t.models[0].trees() as u32,
        sample_size: t.models[0].sample_size() as u32,
        // The workspace model's; each kind's model has its own.
        threshold: t.models[0].threshold(),
        feature_names: FEATURES.iter().map(|f| f.to_string()).collect(),
        trained_at: Some(aerostic_proto::timestamp(t.trained_at)),
        training_rows: t.rows as u32,
        source: t.source.clone(),
        gathered_rows: gathered as u32,
    }
}

impl AnomalyGrpc {
    fn score_one(
        &self,
        features: Option<pb::FeatureVector>,
    ) -> Result<pb::ScoreResponse, ApiError> {
        let features = features.unwrap_or_default();
        // A workspace's model unless the vector names another modelled kind.
        let kind = kind_of(features.subject_kind())
            .filter(|k| *k != SubjectKind::Platform)
            .unwrap_or(SubjectKind::Tenant);
        let (score, anomalous, trained) = self.anomaly.score(kind, &features.values)?;
        Ok(pb::ScoreResponse {
            score,
            anomalous,
            model_version: trained.version.clone(),
        })
    }
}

#[tonic::async_trait]
impl AnomalyRpc for AnomalyGrpc {
    async fn score(
        &self,
        request: Request<pb::ScoreRequest>,
    ) -> Result<Response<pb::ScoreResponse>, Status> {
        Ok(Response::new(
            self.score_one(request.into_inner().features)?,
        ))
    }

    async fn score_batch(
        &self,
        request: Request<pb::ScoreBatchRequest>,
    ) -> Result<Response<pb::ScoreBatchResponse>, Status> {
        let features = request.into_inner().features;
        if features.len() > MAX_SCORE_BATCH {
            return Err(ApiError::invalid_field(
                "features",
                format!("at most {MAX_SCORE_BATCH} vectors"),
            )
            .into());
        }
        let scores = features
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                self.score_one(Some(f)).map_err(|_| {
                    ApiError::invalid_field(
                        format!("features[{i}].values"),
                        format!("must be {} finite numbers", FEATURES.len()),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Response::new(pb::ScoreBatchResponse { scores }))
    }

    async fn train(
        &self,
        request: Request<pb::TrainRequest>,
    ) -> Result<Response<pb::TrainResponse>, Status> {
        let caller = self.seal.caller(&request)?;
        let r = request.into_inner();
        let trained = self
            .anomaly
            .train_for(&caller, r.trees, r.sample_size, r.contamination)
            .await?;
        let (_, gathered) = self.anomaly.model_info();
        Ok(Response::new(pb::TrainResponse {
            model: Some(info_pb(&trained, gathered)),
        }))
    }

    async fn model_info(
        &self,
        _request: Request<pb::ModelInfoRequest>,
    ) -> Result<Response<pb::ModelInfoResponse>, Status> {
        let (trained, gathered) = self.anomaly.model_info();
        Ok(Response::new(info_pb(&trained, gathered)))
    }

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        let caller = self.seal.caller(&request)?;
        let page = request.into_inner().page.unwrap_or_default();
        let size = match page.page_size {
            0 => 50,
            n @ 1..=200 => n as u64,
            _ => return Err(ApiError::invalid_field("page.page_size", "must be 1 to 200").into()),
        };
        let before = (!page.cursor.is_empty()).then_some(page.cursor.as_str());
        if let Some(c) = before
            && uuid::Uuid::parse_str(c).is_err()
        {
            return Err(
                ApiError::invalid_field("page.cursor", "is not a cursor this API gave").into(),
            );
        }
        let rows = self.anomaly.alerts(&caller, before, size + 1).await?;
        let more = rows.len() as u64 > size;
        let rows: Vec<_> = rows.into_iter().take(size as usize).collect();
        let next_cursor = match (more, rows.last()) {
            (true, Some((last, _))) => last.id.clone(),
            _ => String::new(),
        };
        let alerts = rows
            .into_iter()
            .map(|(a, kind)| alert_pb(a, kind))
            .collect();
        Ok(Response::new(pb::ListAlertsResponse {
            alerts,
            page: Some(pb::PageResponse { next_cursor }),
        }))
    }

    async fn active_mitigations(
        &self,
        request: Request<pb::ActiveMitigationsRequest>,
    ) -> Result<Response<pb::ActiveMitigationsResponse>, Status> {
        // The gateway's poll carries no identity; a person's request must be a platform admin's.
        if request
            .metadata()
            .contains_key(aerostic_kit::identity::IDENTITY_HEADER)
        {
            self.seal
                .caller(&request)?
                .require(aerostic_kit::identity::Permission::PlatformAdmin)?;
        }
        let known = request.into_inner().known_revision;
        let (revision, active) = self.anomaly.in_force();
        if revision == known {
            return Ok(Response::new(pb::ActiveMitigationsResponse {
                revision,
                changed: false,
                mitigations: vec![],
            }));
        }
        Ok(Response::new(pb::ActiveMitigationsResponse {
            revision,
            changed: true,
            mitigations: active.into_iter().map(active_pb).collect(),
        }))
    }

    async fn subject_window(
        &self,
        request: Request<pb::SubjectWindowRequest>,
    ) -> Result<Response<pb::SubjectWindowResponse>, Status> {
        let caller = self.seal.caller(&request)?;
        let r = request.into_inner();
        // Unspecified, like the platform, has no window: the domain refuses it.
        let kind = kind_of(r.subject_kind()).unwrap_or(SubjectKind::Platform);
        let seen = self
            .anomaly
            .inspect(&caller, Subject::new(kind, r.subject_id))
            .await?;
        Ok(Response::new(pb::SubjectWindowResponse {
            subject_kind: kind_pb(seen.subject.kind).into(),
            subject_id: seen.subject.id,
            counts: seen
                .counts
                .iter()
                .enumerate()
                .map(|(i, n)| (window::count_name(i).to_string(), *n))
                .collect(),
            features: FEATURES
                .iter()
                .zip(seen.features)
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
            score: seen.score,
            anomalous: seen.anomalous,
            model_version: seen.model_version,
        }))
    }

    async fn lift_mitigation(
        &self,
        request: Request<pb::LiftMitigationRequest>,
    ) -> Result<Response<pb::LiftMitigationResponse>, Status> {
        let caller = self.seal.caller(&request)?;
        let lifted = self
            .anomaly
            .lift(&caller, &request.into_inner().mitigation_id)
            .await?;
        Ok(Response::new(pb::LiftMitigationResponse {
            mitigation: Some(active_pb(lifted)),
        }))
    }
}
