//! Shared by the gateway tests: a `MiniCluster` with a pre-split table and a gateway
//! serving in this process on port 0.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use master::gateway::{GatewayConfig, ReadPath};
use master::{MiniCluster, MiniClusterOptions};
use tablet::proto::admin::bigtable_table_admin_client::BigtableTableAdminClient;
use tablet::proto::admin::create_table_request::Split;
use tablet::proto::admin::{ColumnFamily, CreateTableRequest, Table};
use tablet::proto::bigtable::bigtable_client::BigtableClient;
use tablet::proto::bigtable::{mutation, Mutation};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

pub const INSTANCE: &str = "projects/p/instances/i";
pub const TABLE: &str = "projects/p/instances/i/tables/t";

/// A gateway serving in this process.
pub struct Gateway {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<master::Result<()>>>,
}

impl Gateway {
    pub async fn start(master: SocketAddr, read_path: ReadPath) -> Gateway {
        let mut config = GatewayConfig::new(master.to_string());
        config.read_path = read_path;
        config.client.retry_deadline = Duration::from_secs(30);
        Gateway::start_with(config).await
    }

    pub async fn start_with(config: GatewayConfig) -> Gateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(master::gateway::serve(config, listener, async move {
            let _ = rx.await;
        }));
        Gateway { addr, stop: Some(tx), task: Some(task) }
    }

    pub async fn data(&self) -> BigtableClient<Channel> {
        BigtableClient::connect(format!("http://{}", self.addr)).await.unwrap().max_decoding_message_size(256 << 20)
    }

    pub async fn admin(&self) -> BigtableTableAdminClient<Channel> {
        BigtableTableAdminClient::connect(format!("http://{}", self.addr)).await.unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

/// The CreateTableRequest of table `id` with family `cf` and the given split keys.
pub fn create_request(id: &str, splits: &[&[u8]]) -> CreateTableRequest {
    CreateTableRequest {
        parent: INSTANCE.into(),
        table_id: id.into(),
        table: Some(Table {
            column_families: [("cf".to_string(), ColumnFamily { gc_rule: None })].into_iter().collect(),
            ..Default::default()
        }),
        initial_splits: splits.iter().map(|k| Split { key: k.to_vec() }).collect(),
    }
}

/// A cluster of two tablet servers holding table `t`, split at row0100, row0200, row0300
/// (four tablets), created through a gateway; and that gateway.
pub async fn cluster_with_table(root: &std::path::Path, read_path: ReadPath) -> (MiniCluster, Gateway) {
    let cluster = MiniCluster::start(root, MiniClusterOptions { servers: 2, ..Default::default() }).await.unwrap();
    let gateway = Gateway::start(cluster.master_addr, read_path).await;
    gateway.admin().await.create_table(create_request("t", &[b"row0100", b"row0200", b"row0300"])).await.unwrap();
    cluster.wait_assigned(TABLE).await.unwrap();
    (cluster, gateway)
}

pub fn row_key(i: u32) -> Vec<u8> {
    format!("row{i:04}").into_bytes()
}

pub fn set_cell(family: &str, qualifier: &[u8], ts: i64, value: &[u8]) -> Mutation {
    Mutation {
        mutation: Some(mutation::Mutation::SetCell(mutation::SetCell {
            family_name: family.into(),
            column_qualifier: qualifier.to_vec(),
            timestamp_micros: ts,
            value: value.to_vec().into(),
        })),
    }
}
