//! The AWS-managed policies a user of EKS tutorials expects to find and attach
//! (`arn:aws:iam::aws:policy/...`): their names, paths, ids and documents.
//!
//! AdministratorAccess, IAMFullAccess and IAMReadOnlyAccess carry AWS's documents; the documents
//! of ReadOnlyAccess, PowerUserAccess and the AmazonEKS*/ECR policies keep AWS's shape but list
//! only the services Rampart serves and those an EKS setup touches (AWS's own run to thousands of
//! actions across every service).

use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};

use crate::arn::{AWS_MANAGED_ACCOUNT, policy_arn};
use crate::document::IdentityDocument;

/// One AWS-managed policy (always at version `v1` here).
#[derive(Clone, Debug)]
pub struct AwsManagedPolicy {
    pub name: &'static str,
    pub path: &'static str,
    pub id: &'static str,
    pub arn: String,
    pub description: &'static str,
    pub document: IdentityDocument,
    pub create_date: DateTime<Utc>,
}

const ADMINISTRATOR: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

const POWER_USER: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"},{"Effect":"Allow","Action":["account:GetAccountInformation","account:GetPrimaryEmail","account:ListRegions","iam:CreateServiceLinkedRole","iam:DeleteServiceLinkedRole","iam:ListRoles","organizations:DescribeOrganization"],"Resource":"*"}]}"#;

const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["autoscaling:Describe*","cloudformation:Describe*","cloudformation:Get*","cloudformation:List*","ec2:Describe*","ec2:Get*","ecr:BatchGet*","ecr:Describe*","ecr:Get*","ecr:List*","eks:Describe*","eks:List*","elasticloadbalancing:Describe*","iam:Generate*","iam:Get*","iam:List*","iam:Simulate*","kms:Describe*","kms:Get*","kms:List*","logs:Describe*","logs:Get*","s3:Get*","s3:List*","sts:GetCallerIdentity"],"Resource":"*"}]}"#;

const IAM_FULL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","organizations:DescribeAccount","organizations:DescribeOrganization","organizations:DescribeOrganizationalUnit","organizations:DescribePolicy","organizations:ListChildren","organizations:ListParents","organizations:ListPoliciesForTarget","organizations:ListRoots","organizations:ListPolicies","organizations:ListTargetsForPolicy"],"Resource":"*"}]}"#;

const IAM_READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GenerateCredentialReport","iam:GenerateServiceLastAccessedDetails","iam:Get*","iam:List*","iam:SimulateCustomPolicy","iam:SimulatePrincipalPolicy"],"Resource":"*"}]}"#;

const EKS_CLUSTER: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["autoscaling:DescribeAutoScalingGroups","autoscaling:UpdateAutoScalingGroup","ec2:AttachVolume","ec2:AuthorizeSecurityGroupIngress","ec2:CreateRoute","ec2:CreateSecurityGroup","ec2:CreateTags","ec2:CreateVolume","ec2:DeleteRoute","ec2:DeleteSecurityGroup","ec2:DeleteVolume","ec2:DescribeInstances","ec2:DescribeRouteTables","ec2:DescribeSecurityGroups","ec2:DescribeSubnets","ec2:DescribeVolumes","ec2:DescribeVolumesModifications","ec2:DescribeVpcs","ec2:DescribeDhcpOptions","ec2:DescribeNetworkInterfaces","ec2:DescribeAvailabilityZones","ec2:DetachVolume","ec2:ModifyInstanceAttribute","ec2:ModifyVolume","ec2:RevokeSecurityGroupIngress","ec2:DescribeAccountAttributes","ec2:DescribeAddresses","ec2:DescribeInternetGateways","elasticloadbalancing:*","iam:CreateServiceLinkedRole","kms:DescribeKey"],"Resource":"*"},{"Effect":"Allow","Action":["ec2:CreateNetworkInterface","ec2:DeleteNetworkInterface","ec2:DetachNetworkInterface","ec2:ModifyNetworkInterfaceAttribute"],"Resource":"*"}]}"#;

const EKS_SERVICE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:CreateNetworkInterface","ec2:CreateNetworkInterfacePermission","ec2:DeleteNetworkInterface","ec2:DescribeInstances","ec2:DescribeNetworkInterfaces","ec2:DescribeSecurityGroups","ec2:DescribeSubnets","ec2:DescribeVpcs","ec2:ModifyNetworkInterfaceAttribute","iam:ListAttachedRolePolicies","eks:UpdateClusterVersion"],"Resource":"*"}]}"#;

const EKS_WORKER_NODE: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"WorkerNodePermissions","Effect":"Allow","Action":["ec2:DescribeInstances","ec2:DescribeInstanceTypes","ec2:DescribeRouteTables","ec2:DescribeSecurityGroups","ec2:DescribeSubnets","ec2:DescribeVolumes","ec2:DescribeVolumesModifications","ec2:DescribeVpcs","eks:DescribeCluster","eks-auth:AssumeRoleForPodIdentity"],"Resource":"*"}]}"#;

const EKS_CNI: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AmazonEKSCNIPolicy","Effect":"Allow","Action":["ec2:AssignPrivateIpAddresses","ec2:AttachNetworkInterface","ec2:CreateNetworkInterface","ec2:DeleteNetworkInterface","ec2:DescribeInstances","ec2:DescribeTags","ec2:DescribeNetworkInterfaces","ec2:DescribeInstanceTypes","ec2:DescribeSubnets","ec2:DetachNetworkInterface","ec2:ModifyNetworkInterfaceAttribute","ec2:UnassignPrivateIpAddresses"],"Resource":"*"},{"Sid":"AmazonEKSCNIPolicyENITag","Effect":"Allow","Action":["ec2:CreateTags"],"Resource":["arn:aws:ec2:*:*:network-interface/*"]}]}"#;

const EKS_VPC_RESOURCE_CONTROLLER: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ENIPermissions","Effect":"Allow","Action":["ec2:CreateNetworkInterfacePermission"],"Resource":"*","Condition":{"ForAnyValue:StringEquals":{"ec2:ResourceTag/eks:eni:owner":"eks-vpc-resource-controller"}}},{"Effect":"Allow","Action":["ec2:CreateNetworkInterface","ec2:DetachNetworkInterface","ec2:ModifyNetworkInterfaceAttribute","ec2:DeleteNetworkInterface","ec2:AttachNetworkInterface","ec2:UnassignPrivateIpAddresses","ec2:AssignPrivateIpAddresses"],"Resource":"*"}]}"#;

const ECR_READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:GetDownloadUrlForLayer","ecr:GetRepositoryPolicy","ecr:DescribeRepositories","ecr:ListImages","ecr:DescribeImages","ecr:BatchGetImage","ecr:GetLifecyclePolicy","ecr:GetLifecyclePolicyPreview","ecr:ListTagsForResource","ecr:DescribeImageScanFindings"],"Resource":"*"}]}"#;

/// (name, path, id, description, document, created: y m d)
type Entry = (&'static str, &'static str, &'static str, &'static str, &'static str, (i32, u32, u32));

const CATALOG: &[Entry] = &[
    (
        "AdministratorAccess",
        "/",
        "ANPAIWMBCKSKIEE64ZLYK",
        "Provides full access to AWS services and resources.",
        ADMINISTRATOR,
        (2015, 2, 6),
    ),
    (
        "PowerUserAccess",
        "/",
        "ANPAJYRXTHIB4FOVS3ZXS",
        "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        POWER_USER,
        (2015, 2, 6),
    ),
    (
        "ReadOnlyAccess",
        "/",
        "ANPAILL3HVNFSB6DCOWYQ",
        "Provides read-only access to AWS services and resources.",
        READ_ONLY,
        (2015, 2, 6),
    ),
    (
        "IAMFullAccess",
        "/",
        "ANPAI7XKCFMBPM3QQRRVQ",
        "Provides full access to IAM via the AWS Management Console.",
        IAM_FULL,
        (2015, 2, 6),
    ),
    (
        "IAMReadOnlyAccess",
        "/",
        "ANPAJKSO7NDY4T57MWDSQ",
        "Provides read only access to IAM via the AWS Management Console.",
        IAM_READ_ONLY,
        (2015, 2, 6),
    ),
    (
        "AmazonEKSClusterPolicy",
        "/",
        "ANPAIBTLDQMIC6UOIGFWA",
        "This policy provides Kubernetes the permissions it requires to manage resources on your behalf. Kubernetes requires Ec2:CreateTags permissions to place identifying information on EC2 resources including but not limited to Instances, Security Groups, and Elastic Network Interfaces.",
        EKS_CLUSTER,
        (2018, 5, 27),
    ),
    (
        "AmazonEKSServicePolicy",
        "/",
        "ANPAJFCNXU6HPGCIVXYDI",
        "This policy allows Amazon Elastic Container Service for Kubernetes to create and manage the necessary resources to operate EKS Clusters.",
        EKS_SERVICE,
        (2018, 5, 27),
    ),
    (
        "AmazonEKSWorkerNodePolicy",
        "/",
        "ANPAIBVMOY52IPQ6HD3PO",
        "This policy allows Amazon EKS worker nodes to connect to Amazon EKS Clusters.",
        EKS_WORKER_NODE,
        (2018, 5, 27),
    ),
    (
        "AmazonEKS_CNI_Policy",
        "/",
        "ANPAJWLAS474LDBXNNTM4",
        "This policy provides the Amazon VPC CNI Plugin (amazon-vpc-cni-k8s) the permissions it requires to modify the IP address configuration on your EKS worker nodes.",
        EKS_CNI,
        (2018, 5, 27),
    ),
    (
        "AmazonEKSVPCResourceController",
        "/",
        "ANPAZKAPJZG4PA4NKVCUO",
        "Policy used by VPC Resource Controller to manage ENI and IPs for worker nodes.",
        EKS_VPC_RESOURCE_CONTROLLER,
        (2020, 8, 6),
    ),
    (
        "AmazonEC2ContainerRegistryReadOnly",
        "/",
        "ANPAIFYZPA37OOHVIH7KQ",
        "Provides read-only access to Amazon EC2 Container Registry repositories.",
        ECR_READ_ONLY,
        (2015, 12, 21),
    ),
];

static POLICIES: LazyLock<Vec<AwsManagedPolicy>> = LazyLock::new(|| {
    CATALOG
        .iter()
        .map(|&(name, path, id, description, document, (y, m, d))| AwsManagedPolicy {
            name,
            path,
            id,
            arn: policy_arn(AWS_MANAGED_ACCOUNT, path, name),
            description,
            document: IdentityDocument::parse(document).expect("AWS-managed policy documents are valid"),
            create_date: Utc.with_ymd_and_hms(y, m, d, 18, 39, 46).single().expect("valid date"),
        })
        .collect()
});

/// Every AWS-managed policy Rampart knows, by name.
pub fn all() -> &'static [AwsManagedPolicy] {
    &POLICIES
}

/// The AWS-managed policy with this ARN.
pub fn find(arn: &str) -> Option<&'static AwsManagedPolicy> {
    if !arn.starts_with("arn:aws:iam::aws:policy/") {
        return None;
    }
    POLICIES.iter().find(|policy| policy.arn == arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_parses_and_has_what_tutorials_attach() {
        for name in
            ["AdministratorAccess", "ReadOnlyAccess", "IAMFullAccess", "IAMReadOnlyAccess", "AmazonEKSClusterPolicy"]
        {
            let arn = format!("arn:aws:iam::aws:policy/{name}");
            let policy = find(&arn).unwrap_or_else(|| panic!("{arn}"));
            assert_eq!(policy.name, name);
            assert!(policy.id.starts_with("ANPA") && policy.id.len() == 21, "{}", policy.id);
        }
        assert!(find("arn:aws:iam::aws:policy/Nope").is_none());
    }
}
