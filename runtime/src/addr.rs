//! Addresses of servers: a cluster node as redirects and `CLUSTER SLOTS` name it, and how to
//! reach it like the server the client was given (plain or TLS).

use redis::ConnectionAddr;

/// A node of a cluster, as redirects name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct NodeAddr {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl std::fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl NodeAddr {
    /// Parses `host:port` (the last colon splits, for IPv6 hosts).
    pub(crate) fn parse(addr: &str) -> Option<NodeAddr> {
        let (host, port) = addr.rsplit_once(':')?;
        Some(NodeAddr {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: port.parse().ok()?,
        })
    }
}

/// The address of `node`, connected like `seed` (plain or TLS).
pub(crate) fn node_addr(seed: &ConnectionAddr, node: &NodeAddr) -> ConnectionAddr {
    match seed {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: node.host.clone(),
            port: node.port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => ConnectionAddr::Tcp(node.host.clone(), node.port),
    }
}
