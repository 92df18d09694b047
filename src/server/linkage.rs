//! `Linkage`: full jobs, the job history, the model, and the linkage map.
//!
//! Only the operator runs jobs and sees the whole map; an agency exports the
//! person ids of its own records only (the separation principle: content
//! data are joined on person ids at the agency). A filter naming records or
//! person ids that do not exist gets NOT_FOUND for the operator; for an
//! agency, records that are not its own are simply absent, and a person id
//! answers only with its own records of that person, so it learns nothing
//! about other agencies' records or about which person ids exist.

use std::sync::Arc;

use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use super::ServiceState;
use super::auth::principal;
use super::error::ServiceError;
use super::state::read_lock;
use super::writer::WriteRequest;
use crate::audit::entry::JobTrigger;
use crate::link::PersonId;
use crate::pb::v1 as pb;
use crate::pki::Role;
use crate::store::codec::RecordKey;

/// Entries per `LinkageMapChunk`.
pub const MAP_CHUNK: usize = 10_000;

/// The `veilink.v1.Linkage` service.
pub(crate) struct LinkageService {
    state: Arc<ServiceState>,
}

impl LinkageService {
    pub(crate) fn new(state: Arc<ServiceState>) -> LinkageService {
        LinkageService { state }
    }
}

/// Starts a full job (also used by the periodic schedule).
pub(crate) async fn start_job(
    state: &ServiceState,
    trigger: JobTrigger,
) -> Result<u64, ServiceError> {
    let job_id = state.jobs.start(trigger)?;
    if let Err(e) = state
        .writer
        .send(WriteRequest::Job { job_id, trigger })
        .await
    {
        state.jobs.fail(job_id, e.to_string());
        return Err(e);
    }
    Ok(job_id)
}

/// Person ids in one export filter at most: a filter is resolved on a
/// tokio worker under the linkage index's read lock, which the writer
/// waits for, so its size is bounded (a person holds at most the cluster
/// bound of records, 200 by default).
pub const MAX_PERSON_FILTER: usize = 10_000;

/// The distinct 16-byte person ids of an export filter, in the order given.
///
/// # Errors
/// `INVALID_ARGUMENT` naming `persons[i]` for an id that is not 16 bytes,
/// or for more than [`MAX_PERSON_FILTER`] ids.
fn person_ids(persons: &[Vec<u8>]) -> Result<Vec<(usize, PersonId)>, ServiceError> {
    if persons.len() > MAX_PERSON_FILTER {
        return Err(ServiceError::InvalidArgument(format!(
            "field persons: at most {MAX_PERSON_FILTER} person ids per export, got {}",
            persons.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    let mut ids = Vec::new();
    for (i, id) in persons.iter().enumerate() {
        let id: [u8; 16] = id.as_slice().try_into().map_err(|_| {
            ServiceError::InvalidArgument(format!(
                "field persons[{i}]: a person id must be 16 bytes, got {}",
                id.len()
            ))
        })?;
        if seen.insert(id) {
            ids.push((i, PersonId(id)));
        }
    }
    Ok(ids)
}

impl LinkageService {
    /// The committed records of the persons `persons` (from [`person_ids`],
    /// each with its index in the request), of agency `own_code` only when
    /// that is set (an agency's export); `None` is the operator's export.
    ///
    /// # Errors
    /// For the operator only, `NOT_FOUND` naming `persons[i]` for an id that
    /// has no committed record (it does not exist, or exists only in a batch
    /// still being committed). An agency gets no records for such an id
    /// instead, as for a person that holds none of its records.
    fn records_of_persons(
        &self,
        persons: &[(usize, PersonId)],
        own_code: Option<u16>,
    ) -> Result<Vec<(RecordKey, u64)>, ServiceError> {
        let mut found = Vec::new();
        if persons.is_empty() {
            return Ok(found);
        }
        let mut asked = Vec::with_capacity(persons.len());
        {
            let linkage = self.state.linkage.read()?;
            for (i, id) in persons {
                asked.push((*i, linkage.index.records_of(id).unwrap_or_default()));
            }
        }
        // The linkage index runs ahead of the store by the batches still
        // being committed: list only what is committed, as the whole map does.
        let committed_below = self.state.writer.committed_below();
        let names = read_lock(&self.state.names, "record names")?;
        for (i, seqs) in asked {
            let mut committed = seqs
                .into_iter()
                .filter(|seq| *seq < committed_below)
                .filter_map(|seq| names.key_of(seq).map(|key| (key, seq)))
                .peekable();
            match own_code {
                None if committed.peek().is_none() => {
                    return Err(ServiceError::NotFound(format!(
                        "persons[{i}]: no person with that id"
                    )));
                }
                None => found.extend(committed),
                Some(code) => found.extend(committed.filter(|(key, _)| key.agency == code)),
            }
        }
        Ok(found)
    }
}

/// The map entries of the records under `keys` (agency code ‖ ref), reading
/// each record's person from the linkage index.
fn map_entries(
    state: &ServiceState,
    records: &[(RecordKey, u64)],
) -> Result<Vec<pb::LinkageMapEntry>, ServiceError> {
    let linkage = state.linkage.read()?;
    let agencies = read_lock(&state.agencies, "agency")?;
    Ok(records
        .iter()
        .filter_map(|(key, seq)| {
            linkage
                .index
                .person_of(*seq)
                .map(|person| pb::LinkageMapEntry {
                    agency: agencies.name(key.agency).to_string(),
                    record_ref: key.record_ref.to_vec(),
                    person_id: person.0.to_vec(),
                })
        })
        .collect())
}

#[tonic::async_trait]
impl pb::linkage_server::Linkage for LinkageService {
    async fn run_job(
        &self,
        _request: Request<pb::RunJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        let job_id = start_job(&self.state, JobTrigger::Manual).await?;
        let job = self
            .state
            .jobs
            .get(job_id)
            .ok_or_else(|| ServiceError::Internal("the job vanished".into()))?;
        Ok(Response::new(job.to_proto()))
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        let job_id = request.into_inner().job_id;
        let job = self
            .state
            .jobs
            .get(job_id)
            .ok_or_else(|| ServiceError::NotFound(format!("no job {job_id}")))?;
        Ok(Response::new(job.to_proto()))
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let limit = match request.into_inner().limit {
            0 => 100,
            n => n as usize,
        };
        Ok(Response::new(pb::ListJobsResponse {
            jobs: self
                .state
                .jobs
                .list(limit)
                .iter()
                .map(|j| j.to_proto())
                .collect(),
        }))
    }

    type ExportLinkageMapStream =
        tokio_stream::wrappers::ReceiverStream<Result<pb::LinkageMapChunk, Status>>;

    async fn export_linkage_map(
        &self,
        request: Request<pb::ExportLinkageMapRequest>,
    ) -> Result<Response<Self::ExportLinkageMapStream>, Status> {
        let caller = principal(&request)?;
        let pb::ExportLinkageMapRequest {
            records: filter,
            persons: person_filter,
        } = request.into_inner();
        let own_agency = match &caller.role {
            Role::Operator => None,
            Role::Agency(id) => Some(id.clone()),
            _ => {
                return Err(ServiceError::PermissionDenied(
                    "only the operator and agencies read the linkage map".into(),
                )
                .into());
            }
        };
        // Malformed filters are refused before anything is looked up, the
        // same for the operator and every agency (the answer says nothing
        // about the data).
        let record_refs = filter
            .iter()
            .enumerate()
            .map(|(i, wanted)| {
                <[u8; 32]>::try_from(wanted.record_ref.as_slice()).map_err(|_| {
                    ServiceError::InvalidArgument(format!(
                        "field records[{i}].record_ref: must be 32 bytes, got {}",
                        wanted.record_ref.len()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let person_ids = person_ids(&person_filter)?;
        let own_code = match &own_agency {
            None => None,
            Some(id) => {
                let code = read_lock(&self.state.agencies, "agency")?.code(id);
                match code {
                    Some(code) => Some(code),
                    // An agency that never submitted has no records.
                    None => {
                        let (_, rx) = mpsc::channel(1);
                        return Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
                            rx,
                        )));
                    }
                }
            }
        };

        // A filter is resolved up front, so the operator gets NOT_FOUND
        // before any entry is sent.
        let mut filtered: Option<Vec<(RecordKey, u64)>> = None;
        if !filter.is_empty() || !person_filter.is_empty() {
            let agencies = read_lock(&self.state.agencies, "agency")?.clone();
            let mut found = Vec::new();
            {
                // One look at the names for the whole filter, released before
                // the person filter takes the linkage index's lock.
                let committed_below = self.state.writer.committed_below();
                let names = read_lock(&self.state.names, "record names")?;
                for (i, (wanted, record_ref)) in filter.iter().zip(record_refs).enumerate() {
                    let code = agencies.code(&wanted.agency);
                    if own_agency.is_some() && code != own_code {
                        continue; // not the caller's: absent, nothing revealed
                    }
                    let record = code.and_then(|agency| {
                        let key = RecordKey { agency, record_ref };
                        names
                            .seq_of(&key)
                            .filter(|seq| *seq < committed_below)
                            .map(|seq| (key, seq))
                    });
                    match record {
                        Some(entry) => found.push(entry),
                        None if own_agency.is_none() => {
                            return Err(ServiceError::NotFound(format!(
                                "records[{i}]: no record with that ref at agency {:?}",
                                wanted.agency
                            ))
                            .into());
                        }
                        None => {}
                    }
                }
            }
            found.extend(self.records_of_persons(&person_ids, own_code)?);
            // In the whole map's order (agency code, then ref), each once.
            found.sort_unstable();
            found.dedup();
            filtered = Some(found);
        }

        let (tx, rx) = mpsc::channel(4);
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || {
            let send = |chunk: Vec<(RecordKey, u64)>| -> bool {
                let entries = map_entries(&state, &chunk).map_err(Status::from);
                let message = entries.map(|entries| pb::LinkageMapChunk { entries });
                tx.blocking_send(message).is_ok()
            };
            if let Some(found) = filtered {
                for chunk in found.chunks(MAP_CHUNK) {
                    if !send(chunk.to_vec()) {
                        return;
                    }
                }
                return;
            }
            // A copy of the committed records' (agency, ref, seq), sorted
            // into key order once the names' lock is released (the writer
            // waits for that lock while it stages a batch).
            let committed_below = state.writer.committed_below();
            let mut records = match read_lock(&state.names, "record names") {
                Ok(names) => names.records_of(own_code, committed_below),
                Err(e) => {
                    let _ = tx.blocking_send(Err(e.into()));
                    return;
                }
            };
            records.sort_unstable();
            for chunk in records.chunks(MAP_CHUNK) {
                if !send(chunk.to_vec()) {
                    return;
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }

    async fn explain_model(
        &self,
        _request: Request<pb::ExplainModelRequest>,
    ) -> Result<Response<pb::ModelExplanation>, Status> {
        let explanation = {
            let linkage = self.state.linkage.read()?;
            serde_json::json!({
                "model": linkage.index.model().explain(),
                "config": linkage.index.config(),
                "stats": linkage.index.stats(),
                "quarantined": linkage.index.quarantined(),
            })
        };
        Ok(Response::new(pb::ModelExplanation {
            json: explanation.to_string(),
        }))
    }
}
