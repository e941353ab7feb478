"""AWS's naming rules for every kind of resource this stack names.

Each rule names the API member the name is sent as; the botocore model's declared length and
pattern are checked first (config/aws_models.py). What a model does not declare (many members
are plain strings) is written here by hand, with the AWS document each hand rule comes from.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from config import aws_models
from config.aws_models import Member


@dataclass(frozen=True)
class Finding:
    """One rule a name breaks: what (after "which"), how the name must change, and by how many
    characters it is too long when that is the problem."""

    message: str
    remedy: str = ""
    excess: int = 0


@dataclass(frozen=True)
class NameRule:
    #: What AWS calls the name, as the user reads it in a message.
    what: str
    #: The request member that receives it (None: the model would cost more than it says).
    member: Member | None
    #: AWS document the hand-written constraints below come from.
    doc: str = ""
    max_length: int | None = None
    min_length: int | None = None
    #: Allowed characters, as the inside of a regular-expression class, and the same in words.
    charset: str | None = None
    charset_words: str = ""
    letter_first: bool = False
    #: Neither the first nor the last character may be a hyphen.
    no_edge_hyphen: bool = False
    no_trailing_hyphen: bool = False
    no_double_hyphen: bool = False
    alphanumeric_edges: bool = False
    forbidden_prefixes: tuple[str, ...] = ()
    forbidden_suffixes: tuple[str, ...] = ()
    required_prefix: str | None = None
    forbidden_names: tuple[str, ...] = ()
    #: A regular expression the name must not match anywhere, what that means, and the remedy.
    forbidden_form: tuple[str, str, str] | None = None
    not_ip_address: bool = False

    def check(self, name: str) -> list[Finding]:
        found: list[Finding] = []
        longest = self.max_length
        shortest = self.min_length
        if self.member is not None:
            declared = aws_models.shape(*self.member)
            if declared.max is not None:
                longest = declared.max if longest is None else min(longest, declared.max)
            if declared.min is not None:
                shortest = declared.min
            if not declared.matches(name) and not self._explained_by_hand(name, longest):
                found.append(Finding("has a form AWS does not accept", f"use only {self.charset_words}"))
        if longest is not None and len(name) > longest:
            found.append(
                Finding(
                    f"is {len(name)} characters long, over AWS's {longest}",
                    f"be at most {longest} characters",
                    excess=len(name) - longest,
                )
            )
        if shortest is not None and len(name) < shortest:
            found.append(
                Finding(
                    f"is {len(name)} characters long, under the {shortest} AWS requires",
                    f"have {shortest} characters or more",
                )
            )
        return found + self._hand_findings(name)

    def _explained_by_hand(self, name: str, longest: int | None) -> bool:
        return bool(self._hand_findings(name)) or (longest is not None and len(name) > longest)

    def _hand_findings(self, name: str) -> list[Finding]:
        found = []
        if self.charset is not None:
            bad = sorted(set(re.sub(f"[{self.charset}]", "", name)))
            if bad:
                found.append(Finding(f"contains {''.join(bad)!r}", f"use only {self.charset_words}"))
        if self.letter_first and not name[:1].isalpha():
            found.append(Finding("does not start with a letter", "start with a letter"))
        if self.no_edge_hyphen and (name.startswith("-") or name.endswith("-")):
            found.append(Finding("starts or ends with a hyphen", "neither start nor end with a hyphen"))
        if self.no_trailing_hyphen and name.endswith("-"):
            found.append(Finding("ends with a hyphen", "not end with a hyphen"))
        if self.no_double_hyphen and "--" in name:
            found.append(Finding("contains two hyphens in a row", "never have two hyphens in a row"))
        if self.alphanumeric_edges and not (name[:1].isalnum() and name[-1:].isalnum()):
            found.append(
                Finding("does not start and end with a letter or digit", "start and end with a letter or digit")
            )
        for prefix in self.forbidden_prefixes:
            if name.lower().startswith(prefix.lower()):
                found.append(Finding(f"starts with {prefix!r}, which AWS reserves", f"not start with {prefix!r}"))
        for suffix in self.forbidden_suffixes:
            if name.endswith(suffix):
                found.append(Finding(f"ends with {suffix!r}, which AWS reserves", f"not end with {suffix!r}"))
        if self.required_prefix is not None and not name.startswith(self.required_prefix):
            found.append(
                Finding(f"does not start with {self.required_prefix!r}", f"start with {self.required_prefix!r}")
            )
        if name.lower() in self.forbidden_names:
            found.append(Finding(f"is {name!r}, a name AWS reserves", "be another name"))
        if self.forbidden_form is not None and re.search(self.forbidden_form[0], name):
            found.append(Finding(self.forbidden_form[1], self.forbidden_form[2]))
        if self.not_ip_address:
            try:
                ipaddress.IPv4Address(name)
            except ValueError:
                pass
            else:
                found.append(Finding("has the form of an IP address", "not look like an IP address"))
        return found


_ELB = "Elastic Load Balancing API Reference (v2015-12-01), CreateLoadBalancer and CreateTargetGroup: Name"
_RDS = "Amazon RDS API Reference: CreateDBCluster, CreateDBInstance, CreateDBClusterParameterGroup, CreateDBParameterGroup, CreateDBSubnetGroup, CreateGlobalCluster"  # noqa: E501


def _rds(what: str, member: Member, max_length: int) -> NameRule:
    """RDS identifiers and parameter group names: letters, digits and hyphens, a letter first,
    no hyphen at the end and never two in a row."""
    return NameRule(
        what,
        member,
        doc=_RDS,
        max_length=max_length,
        charset="A-Za-z0-9-",
        charset_words="letters, digits and hyphens",
        letter_first=True,
        no_trailing_hyphen=True,
        no_double_hyphen=True,
    )


_ECS = "Amazon ECS API Reference: CreateCluster clusterName, CreateService serviceName, RegisterTaskDefinition family"

#: What EC2 accepts in a security group's name and description, and in a rule's description
#: (Amazon EC2 API Reference: CreateSecurityGroup, IpRange, UserIdGroupPair, PrefixListId), up to
#: 255 characters: "a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*". An apostrophe is refused.
SECURITY_GROUP_TEXT = r"a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*"
SECURITY_GROUP_TEXT_LENGTH = 255

RULES: dict[str, NameRule] = {
    # "must not begin with internal-": AWS gives internal load balancers DNS names starting with it.
    "alb": NameRule(
        "load balancer name",
        ("elbv2", "CreateLoadBalancer.Name"),
        doc=_ELB,
        max_length=32,
        charset="A-Za-z0-9-",
        charset_words="letters, digits and hyphens",
        no_edge_hyphen=True,
        forbidden_prefixes=("internal-",),
    ),
    "target_group": NameRule(
        "target group name",
        ("elbv2", "CreateTargetGroup.Name"),
        doc=_ELB,
        max_length=32,
        charset="A-Za-z0-9-",
        charset_words="letters, digits and hyphens",
        no_edge_hyphen=True,
    ),
    "rds_cluster": _rds("database cluster identifier", ("rds", "CreateDBCluster.DBClusterIdentifier"), 63),
    "rds_instance": _rds("database instance identifier", ("rds", "CreateDBInstance.DBInstanceIdentifier"), 63),
    "rds_global_cluster": _rds(
        "global database identifier", ("rds", "CreateGlobalCluster.GlobalClusterIdentifier"), 63
    ),
    "rds_parameter_group": _rds(
        "parameter group name", ("rds", "CreateDBClusterParameterGroup.DBClusterParameterGroupName"), 255
    ),
    "rds_snapshot": _rds(
        "final snapshot identifier", ("rds", "CreateDBClusterSnapshot.DBClusterSnapshotIdentifier"), 255
    ),
    "rds_subnet_group": NameRule(
        "database subnet group name",
        ("rds", "CreateDBSubnetGroup.DBSubnetGroupName"),
        doc=_RDS,
        max_length=255,
        charset="A-Za-z0-9._ -",
        charset_words="letters, digits, periods, underscores, spaces and hyphens",
        forbidden_names=("default",),
    ),
    # Amazon S3 User Guide, "General purpose bucket naming rules".
    "s3_bucket": NameRule(
        "S3 bucket name",
        ("s3", "CreateBucket.Bucket"),
        doc="Amazon S3 User Guide, General purpose bucket naming rules",
        max_length=63,
        min_length=3,
        charset="a-z0-9.-",
        charset_words="lower-case letters, digits, dots and hyphens",
        alphanumeric_edges=True,
        forbidden_prefixes=("xn--", "sthree-", "amzn-s3-demo-"),
        forbidden_suffixes=("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"),
        forbidden_form=(
            r"\.\.|\.-|-\.",
            "contains '..', '.-' or '-.'",
            "keep dots away from each other and from hyphens",
        ),
        not_ip_address=True,
    ),
    "ecs_cluster": NameRule(
        "ECS cluster name",
        ("ecs", "CreateCluster.clusterName"),
        doc=_ECS,
        max_length=255,
        charset="A-Za-z0-9_-",
        charset_words="letters, digits, underscores and hyphens",
    ),
    "ecs_service": NameRule(
        "ECS service name",
        ("ecs", "CreateService.serviceName"),
        doc=_ECS,
        max_length=255,
        charset="A-Za-z0-9_-",
        charset_words="letters, digits, underscores and hyphens",
    ),
    "ecs_family": NameRule(
        "task definition family",
        ("ecs", "RegisterTaskDefinition.family"),
        doc=_ECS,
        max_length=255,
        charset="A-Za-z0-9_-",
        charset_words="letters, digits, underscores and hyphens",
    ),
    "ecr_repository": NameRule(
        "ECR repository name",
        ("ecr", "CreateRepository.repositoryName"),
        charset_words="lower-case letters and digits, separated by '.', '_', '-' or '/'",
    ),
    # Amazon CloudWatch Logs API Reference, CreateLogGroup: names can't start with "aws/".
    "log_group": NameRule(
        "log group name",
        ("logs", "CreateLogGroup.logGroupName"),
        doc="Amazon CloudWatch Logs API Reference, CreateLogGroup",
        charset_words="letters, digits, '_', '-', '/', '.' and '#'",
        forbidden_prefixes=("aws/",),
    ),
    # AWS WAF Developer Guide, "Sending web ACL traffic logs to an Amazon CloudWatch Logs log group".
    "waf_log_group": NameRule(
        "WAF log group name",
        ("logs", "CreateLogGroup.logGroupName"),
        doc="AWS WAF Developer Guide, logging destinations: CloudWatch Logs",
        charset_words="letters, digits, '_', '-', '/', '.' and '#'",
        required_prefix="aws-waf-logs-",
    ),
    "metric_filter": NameRule(
        "metric filter name",
        ("logs", "PutMetricFilter.filterName"),
        charset_words="any characters but ':' and '*'",
    ),
    "metric_namespace": NameRule(
        "metric namespace",
        ("logs", "PutMetricFilter.metricTransformations.metricNamespace"),
        charset_words="any characters but ':', '*' and '$'",
    ),
    # Amazon CloudWatch API Reference, PutMetricAlarm: AlarmName has no ASCII control characters.
    "alarm": NameRule(
        "alarm name",
        ("cloudwatch", "PutMetricAlarm.AlarmName"),
        doc="Amazon CloudWatch API Reference, PutMetricAlarm: AlarmName",
        charset_words="printable characters",
        forbidden_form=(r"[\x00-\x1f\x7f]", "contains a control character", "have no control characters"),
    ),
    # AWS Lambda API Reference, CreateFunction: "If you specify only the function name, it is
    # limited to 64 characters in length" (the model's 140 is for a full ARN).
    "lambda": NameRule(
        "Lambda function name",
        ("lambda", "CreateFunction.FunctionName"),
        doc="AWS Lambda API Reference, CreateFunction: FunctionName",
        max_length=64,
        charset="A-Za-z0-9_-",
        charset_words="letters, digits, hyphens and underscores",
    ),
    "codebuild": NameRule(
        "CodeBuild project name",
        ("codebuild", "CreateProject.name"),
        charset_words="letters, digits, hyphens and underscores, starting with a letter or digit",
    ),
    "pipeline": NameRule(
        "pipeline name",
        ("codepipeline", "CreatePipeline.pipeline.name"),
        charset_words="letters, digits and '.', '@', '-', '_'",
    ),
    "codedeploy_app": NameRule(
        "CodeDeploy application name", ("codedeploy", "CreateApplication.applicationName"), charset_words="any text"
    ),
    "deployment_group": NameRule(
        "deployment group name", ("codedeploy", "CreateDeploymentGroup.deploymentGroupName"), charset_words="any text"
    ),
    "deployment_config": NameRule(
        "deployment configuration name",
        ("codedeploy", "CreateDeploymentConfig.deploymentConfigName"),
        charset_words="any text",
    ),
    "connection": NameRule(
        "CodeConnections connection name", ("codeconnections", "CreateConnection.ConnectionName"), charset_words="text"
    ),
    # Amazon SNS API Reference, CreateTopic: "Topic names must be made up of only uppercase and
    # lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256".
    "sns_topic": NameRule(
        "SNS topic name",
        ("sns", "CreateTopic.Name"),
        doc="Amazon SNS API Reference, CreateTopic: Name",
        max_length=256,
        min_length=1,
        charset="A-Za-z0-9_-",
        charset_words="letters, digits, underscores and hyphens",
    ),
    "notification_rule": NameRule(
        "notification rule name",
        ("codestar-notifications", "CreateNotificationRule.Name"),
        charset_words="letters, digits, hyphens, underscores and spaces",
    ),
    "event_rule": NameRule(
        "EventBridge rule name", ("events", "PutRule.Name"), charset_words="letters, digits and '.', '-', '_'"
    ),
    "iam_role": NameRule(
        "IAM role name", ("iam", "CreateRole.RoleName"), charset_words="letters, digits and '+=,.@_-'"
    ),
    "iam_policy": NameRule(
        "IAM policy name", ("iam", "CreatePolicy.PolicyName"), charset_words="letters, digits and '+=,.@_-'"
    ),
    # Amazon EC2 API Reference, CreateSecurityGroup: GroupName, "Up to 255 characters in length.
    # Cannot start with sg-." (EC2's model, 3 MB, is not loaded for it: it declares a plain string.)
    "security_group": NameRule(
        "security group name",
        None,
        doc="Amazon EC2 API Reference, CreateSecurityGroup: GroupName",
        max_length=255,
        min_length=1,
        charset=SECURITY_GROUP_TEXT,
        charset_words="letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*",
        forbidden_prefixes=("sg-",),
    ),
    # AWS KMS API Reference, CreateAlias: "must begin with alias/ ... cannot begin with alias/aws/".
    "kms_alias": NameRule(
        "KMS alias",
        ("kms", "CreateAlias.AliasName"),
        doc="AWS KMS API Reference, CreateAlias: AliasName",
        charset_words="letters, digits and ':/_-'",
        required_prefix="alias/",
        forbidden_prefixes=("alias/aws/",),
    ),
    # AWS Secrets Manager API Reference, CreateSecret: Name: "ASCII letters, numbers, and
    # /_+=.@-. Do not end your secret name with a hyphen followed by six characters."
    "secret": NameRule(
        "secret name",
        ("secretsmanager", "CreateSecret.Name"),
        doc="AWS Secrets Manager API Reference, CreateSecret: Name",
        charset="A-Za-z0-9/_+=.@-",
        charset_words="letters, digits and /_+=.@-",
        forbidden_form=(
            r"-.{6}$",
            "ends with a hyphen and six characters, which Secrets Manager mistakes for its ARN suffix",
            "not end with a hyphen and six characters",
        ),
    ),
    "backup_vault": NameRule(
        "backup vault name",
        ("backup", "CreateBackupVault.BackupVaultName"),
        charset_words="2 to 50 letters, digits, '-' and '_'",
    ),
    # AWS Backup API Reference, BackupPlanInput: BackupPlanName, "only alphanumeric or '-_.'
    # special characters", at most 50.
    "backup_plan": NameRule(
        "backup plan name",
        ("backup", "CreateBackupPlan.BackupPlan.BackupPlanName"),
        doc="AWS Backup API Reference, BackupPlanInput: BackupPlanName",
        max_length=50,
        min_length=1,
        charset="A-Za-z0-9._-",
        charset_words="letters, digits and '-_.'",
    ),
    "backup_selection": NameRule(
        "backup selection name",
        ("backup", "CreateBackupSelection.BackupSelection.SelectionName"),
        charset_words="1 to 50 letters, digits and '-_.'",
    ),
    "waf_acl": NameRule("web ACL name", ("wafv2", "CreateWebACL.Name"), charset_words="letters, digits, '_' and '-'"),
    "waf_ip_set": NameRule("IP set name", ("wafv2", "CreateIPSet.Name"), charset_words="letters, digits, '_' and '-'"),
    "waf_metric": NameRule(
        "WAF metric name",
        ("wafv2", "CreateWebACL.VisibilityConfig.MetricName"),
        charset_words="letters, digits and '_#:.-/'",
    ),
    "scaling_policy": NameRule(
        "scaling policy name",
        ("application-autoscaling", "PutScalingPolicy.PolicyName"),
        charset_words="printable ASCII",
    ),
    "scheduled_action": NameRule(
        "scheduled action name",
        ("application-autoscaling", "PutScheduledAction.ScheduledActionName"),
        charset_words="text without ':', '/', '|', control characters or leading and trailing spaces",
    ),
    "route53_set_identifier": NameRule(
        "Route 53 record set identifier",
        ("route53", "ChangeResourceRecordSets.ChangeBatch.Changes.ResourceRecordSet.SetIdentifier"),
        charset_words="text",
    ),
}


def check(kind: str, name: str) -> list[Finding]:
    """Every rule ``name`` breaks as a resource of ``kind`` (a key of ``RULES``)."""
    return RULES[kind].check(name)
