//! The kubeconfig `aws eks update-kubeconfig --name <cluster>` writes, byte for byte as the aws
//! CLI writes a new file: the cluster, context and user named by the cluster ARN, the CA data and
//! endpoint as `DescribeCluster` gives them, and the `aws eks get-token` exec plugin
//! (`client.authentication.k8s.io/v1beta1`, the region from the cluster ARN, `AWS_PROFILE` in
//! the plugin's environment only when a profile was named).

/// A kubeconfig for one cluster with the `aws eks get-token` exec plugin.
pub fn update_kubeconfig(
    cluster_arn: &str,
    cluster_name: &str,
    region: &str,
    endpoint: &str,
    ca_data: &str,
    profile: Option<&str>,
) -> String {
    let env = match profile {
        Some(profile) => format!("      env:\n      - name: AWS_PROFILE\n        value: {profile}\n"),
        None => String::new(),
    };
    format!(
        "apiVersion: v1\n\
         clusters:\n\
         - cluster:\n    certificate-authority-data: {ca_data}\n    server: {endpoint}\n  name: {cluster_arn}\n\
         contexts:\n\
         - context:\n    cluster: {cluster_arn}\n    user: {cluster_arn}\n  name: {cluster_arn}\n\
         current-context: {cluster_arn}\n\
         kind: Config\n\
         preferences: {{}}\n\
         users:\n\
         - name: {cluster_arn}\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      \
         args:\n      - --region\n      - {region}\n      - eks\n      - get-token\n      - --cluster-name\n      - {cluster_name}\n      \
         - --output\n      - json\n      command: aws\n{env}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exec_plugin_names_region_and_cluster() {
        let text = update_kubeconfig(
            "arn:aws:eks:us-east-1:123456789012:cluster/demo",
            "demo",
            "us-east-1",
            "https://127.0.0.1:6443",
            "Q0E=",
            None,
        );
        assert!(text.contains("      - --region\n      - us-east-1\n      - eks\n      - get-token\n"), "{text}");
        assert!(
            text.contains(
                "    server: https://127.0.0.1:6443\n  name: arn:aws:eks:us-east-1:123456789012:cluster/demo\n"
            )
        );
        assert!(text.ends_with("      command: aws\n"));
        let with_profile = update_kubeconfig("arn", "demo", "us-east-1", "https://x", "Q0E=", Some("eks-user"));
        assert!(
            with_profile
                .ends_with("      command: aws\n      env:\n      - name: AWS_PROFILE\n        value: eks-user\n")
        );
    }
}
