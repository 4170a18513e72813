//! gRPC status codes of the tablet server (docs/rpc.md lists them for clients).
//!
//! - [`not_serving`]: `UNAVAILABLE`, a message starting with `not serving`, and the
//!   metadata `x-bt-not-serving: 1` (docs/cluster.md, "Errors a client acts on").
//! - [`from_tablet_error`]: the tablet's errors: `InvalidArgument` → `INVALID_ARGUMENT`,
//!   `NotFound` → `NOT_FOUND`, `RowOutOfRange` → not serving, corruption → `INTERNAL` (with
//!   the file and offset in the message), a closed engine (the tablet was unloaded under the
//!   request) → not serving, other engine failures → `INTERNAL`.

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use crate::error::Error;
use crate::proto::google::rpc::Status as RpcStatus;

/// The response metadata key that marks a "not serving" answer.
pub const NOT_SERVING_METADATA: &str = "x-bt-not-serving";
/// Every "not serving" message starts with this.
pub const NOT_SERVING_PREFIX: &str = "not serving";

/// `UNAVAILABLE` "not serving: {why}" with the `x-bt-not-serving: 1` metadata.
pub fn not_serving(why: impl std::fmt::Display) -> Status {
    let mut status = Status::unavailable(format!("{NOT_SERVING_PREFIX}: {why}"));
    status.metadata_mut().insert(NOT_SERVING_METADATA, MetadataValue::from_static("1"));
    status
}

/// True when `status` is a "not serving" answer (what a client re-routes on).
pub fn is_not_serving(status: &Status) -> bool {
    status.code() == Code::Unavailable && status.message().starts_with(NOT_SERVING_PREFIX)
}

/// The gRPC status of a tablet error.
pub fn from_tablet_error(err: &Error) -> Status {
    match err {
        Error::InvalidArgument(_) => Status::invalid_argument(err.to_string()),
        Error::NotFound(_) => Status::not_found(err.to_string()),
        Error::RowOutOfRange { .. } | Error::NotServing { .. } => not_serving(err),
        Error::StaleEpoch { .. } => Status::failed_precondition(err.to_string()),
        Error::Corruption { .. } => Status::internal(err.to_string()),
        // Raised by the client-side chunk merger only; a server never sees it from a tablet.
        Error::InvalidChunk { .. } => Status::internal(err.to_string()),
        Error::Engine(e) => match e {
            engine::Error::InvalidArgument(_) => Status::invalid_argument(err.to_string()),
            engine::Error::Closed => not_serving(format_args!("the tablet was closed ({err})")),
            _ => Status::internal(err.to_string()),
        },
    }
}

/// A `google.rpc.Status` (as `MutateRows` reports per entry) from a gRPC status. Not-serving
/// entries keep their message prefix, which is what clients look at there (entries carry no
/// metadata).
pub fn to_rpc_status(status: &Status) -> RpcStatus {
    RpcStatus { code: status.code() as i32, message: status.message().to_string(), details: Vec::new() }
}

/// Rewrites tonic's answer to an over-limit request message (`OUT_OF_RANGE`, "decoded
/// message length too large") to `RESOURCE_EXHAUSTED`, the code gRPC's other
/// implementations give and docs/cluster.md promises. Every request of our services is a
/// single message, so the answer is always a trailers-only response: the status is in the
/// headers.
pub(crate) fn message_limit_status(
    mut response: tonic::codegen::http::Response<tonic::body::Body>,
) -> tonic::codegen::http::Response<tonic::body::Body> {
    let headers = response.headers_mut();
    let out_of_range = headers.get("grpc-status").is_some_and(|v| v.as_bytes() == b"11");
    let too_large = headers.get("grpc-message").is_some_and(|v| {
        let m = String::from_utf8_lossy(v.as_bytes()).replace("%20", " ");
        m.contains("decoded message length too large")
    });
    if out_of_range && too_large {
        headers.insert("grpc-status", tonic::codegen::http::HeaderValue::from_static("8"));
    }
    response
}

/// The `google.rpc.Status` of success.
pub fn rpc_ok() -> RpcStatus {
    RpcStatus { code: Code::Ok as i32, message: String::new(), details: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_serving_has_code_prefix_and_metadata() {
        let s = not_serving("row \"x\" of t");
        assert_eq!(s.code(), Code::Unavailable);
        assert!(s.message().starts_with("not serving: row"));
        assert_eq!(s.metadata().get(NOT_SERVING_METADATA).unwrap(), "1");
        assert!(is_not_serving(&s));
        assert!(!is_not_serving(&Status::unavailable("busy")));
    }

    #[test]
    fn tablet_errors_map_to_documented_codes() {
        assert_eq!(from_tablet_error(&Error::invalid("bad")).code(), Code::InvalidArgument);
        assert_eq!(from_tablet_error(&Error::NotFound("cf".into())).code(), Code::NotFound);
        let out = Error::RowOutOfRange { row: b"z".to_vec(), start: b"a".to_vec(), end: b"m".to_vec() };
        assert!(is_not_serving(&from_tablet_error(&out)));
        assert!(is_not_serving(&from_tablet_error(&Error::Engine(engine::Error::Closed))));
        let corrupt =
            Error::Engine(engine::Error::Corruption { file: "x.sst".into(), offset: Some(7), reason: "bad".into() });
        let s = from_tablet_error(&corrupt);
        assert_eq!(s.code(), Code::Internal);
        assert!(s.message().contains("x.sst"), "{}", s.message());
        let rpc = to_rpc_status(&Status::not_found("cf"));
        assert_eq!((rpc.code, rpc.message.as_str()), (Code::NotFound as i32, "cf"));
    }
}
