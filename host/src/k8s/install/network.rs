//! The install's NetworkPolicy: who may reach which port of the webhook's pods.

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{CONTAINER_PORT, Install, METRICS_PORT, labels, meta, strings};
use crate::k8s::NAME;

fn tcp(port: i32) -> Option<Vec<NetworkPolicyPort>> {
    Some(vec![NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_owned()),
        end_port: None,
    }])
}

/// Ingress only (egress is left alone: the webhook must reach the API server). The admission
/// port admits every source: the API server calls from the control plane's address, which no
/// pod or namespace selector matches, and on managed clusters from outside the pod network. The
/// metrics port admits pods of the namespaces carrying the configured labels, where Prometheus
/// runs. Every other port and source is refused.
pub(super) fn network_policy(install: &Install) -> NetworkPolicy {
    NetworkPolicy {
        metadata: meta(NAME, Some(&install.namespace)),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(labels()),
                match_expressions: None,
            }),
            policy_types: strings(&["Ingress"]),
            ingress: Some(vec![
                NetworkPolicyIngressRule {
                    from: None,
                    ports: tcp(CONTAINER_PORT),
                },
                NetworkPolicyIngressRule {
                    from: Some(vec![NetworkPolicyPeer {
                        namespace_selector: Some(LabelSelector {
                            match_labels: Some(install.metrics_namespace_labels.clone()),
                            match_expressions: None,
                        }),
                        ..NetworkPolicyPeer::default()
                    }]),
                    ports: tcp(METRICS_PORT),
                },
            ]),
            egress: None,
        }),
    }
}
