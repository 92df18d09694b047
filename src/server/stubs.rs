//! Services of the contract that this build does not serve yet: every RPC
//! answers `UNIMPLEMENTED` (the generated default methods). Each is replaced
//! by its real module as the corresponding part of veilink lands.

use crate::pb::v1 as pb;

/// A service whose RPCs all answer `UNIMPLEMENTED`.
pub(crate) struct Unserved;

impl pb::intake_server::Intake for Unserved {}
impl pb::linkage_server::Linkage for Unserved {}
impl pb::analysis_server::Analysis for Unserved {}
impl pb::audit_server::Audit for Unserved {}
