//! Generated protobuf and gRPC code. Module paths mirror the protobuf packages, as the
//! generated code refers to other packages through relative paths.

#![allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Google's packages (wire facts of the public API; the `.proto` files are ours).
pub mod google {
    /// `google.bigtable.*`.
    pub mod bigtable {
        /// `google.bigtable.v2`: the data API (messages, `Bigtable` client and server).
        pub mod v2 {
            tonic::include_proto!("google.bigtable.v2");
        }
        /// `google.bigtable.admin.*`.
        pub mod admin {
            /// `google.bigtable.admin.v2`: the table-admin API (messages, `BigtableTableAdmin`
            /// client and server).
            pub mod v2 {
                tonic::include_proto!("google.bigtable.admin.v2");
            }
        }
    }
    /// `google.rpc`: the RPC status message.
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
}

/// Our own packages.
pub mod bt {
    /// `bt.internal.*`.
    pub mod internal {
        /// `bt.internal.v1`: the cluster's internal control services.
        pub mod v1 {
            tonic::include_proto!("bt.internal.v1");
        }
    }
}

pub use google::bigtable::admin::v2 as admin;
pub use google::bigtable::v2 as bigtable;
