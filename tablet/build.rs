//! Compiles `proto/` into Rust with `protox` (a protobuf compiler in pure Rust, so no
//! `protoc` binary is needed) and `tonic-prost-build` (messages, clients and servers).

use std::error::Error;

const PROTOS: &[&str] = &[
    "google/bigtable/v2/bigtable.proto",
    "google/bigtable/v2/data.proto",
    "google/bigtable/v2/request_stats.proto",
    "google/bigtable/admin/v2/table.proto",
    "google/bigtable/admin/v2/bigtable_table_admin.proto",
    "google/rpc/status.proto",
];

/// The cluster's own services. Compiled with default stubs: a method a server does not
/// implement answers UNIMPLEMENTED, so a new internal RPC does not break the fake
/// masters and servers of the tests. (Not for Google's services: default stubs change
/// how streaming methods are declared.)
const INTERNAL_PROTOS: &[&str] = &["bt/internal/v1/cluster.proto"];

fn main() -> Result<(), Box<dyn Error>> {
    let fds = protox::compile(PROTOS, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Cell values as `bytes::Bytes`: decoded without a copy (a slice of the received
        // message) and cloned without a copy (the client keeps a request's mutations to
        // retry it). The values are the bulk of every write.
        .bytes(".google.bigtable.v2.Mutation.SetCell.value")
        .compile_fds(fds)?;
    let internal = protox::compile(INTERNAL_PROTOS, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .generate_default_stubs(true)
        .compile_fds(internal)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
