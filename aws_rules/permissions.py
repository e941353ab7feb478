"""Rule 3: each role can make every call its service makes during a release and a rollback.

For each role, the table lists the API calls its service makes (build, deploy, test traffic,
shift, wait, terminate, rollback), and the resource AWS authorises each call against: an ARN as
the service presents it, or ``*`` where the Service Authorization Reference gives the action no
resource type. Compared with AWS's managed policy for that service role (named per role); ours
are narrower, which is why the calls are listed here and tested.

A call on something encrypted with a customer key also needs the key, and KMS checks the key
policy on every use (aws_rules/keys.py): the role's policy must allow it, and the key policy must
admit that call from that role, by name or through a statement for the account principal whose
conditions the call satisfies (kms:ViaService: the service the call goes through; the encryption
context the service sends). A key policy that merely mentions the account does not count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from aws_rules import iam, keys
from aws_rules.stack import Resource, Stack

#: A stand-in for the parts of an ARN a service fills in at run time (a stream, a task id).
RUNTIME = "runtime-id"


#: Where a service's constructs are (modules/layout.py): paths of the table are tried there first.
SERVICES = "services"


class Lookup:
    """Resources of one region by construct path, and the ARNs services present: the primary
    region's, or (``scope`` "dr/") the DR region's, built by the same constructs under "dr/". A
    path is the service's (``<scope>services/<key>/<path>``) when that service has it, else the
    platform's."""

    def __init__(self, stack: Stack, service: str | None = None, scope: str = "") -> None:
        self.stack = stack
        self.service = service
        self.scope = scope

    def at(self, resource_type: str, path: str) -> Resource | None:
        own = [f"{self.scope}{SERVICES}/{self.service}/{path}"] if self.service else []
        for candidate in [*own, f"{self.scope}{path}"]:
            found = [r for r in self.stack.of_type(resource_type) if r.path == candidate]
            if found:
                return found[0]
        return None

    def ref(self, resource_type: str, path: str, attribute: str = "arn") -> str | None:
        resource = self.at(resource_type, path)
        return resource.ref(attribute) if resource else None

    def region(self) -> str:
        return self.stack.regions.get(f"aws.{self.scope.rstrip('/')}" if self.scope else "aws", "")

    def dr_region(self) -> str:
        return self.stack.regions.get("aws.dr", "")

    def account(self) -> str:
        providers = self.stack.document.get("provider", {}).get("aws", [])
        return str(providers[0]["allowed_account_ids"][0]) if providers else ""

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region()}:{self.account()}:{resource}"

    def stack_family(self, container: str) -> str | None:
        """The family of the task definition a CodeBuild step registers (its template names it)."""
        project = self.at("aws_codebuild_project", "migrations/project")
        if project is None:
            return None
        variables = {v["name"]: v["value"] for v in project.body["environment"]["environment_variable"]}
        template = iam.json_document(variables.get("MIGRATE_TASKDEF", "{}"))
        containers = [c["name"] for c in template.get("containerDefinitions", [])]
        return str(template["family"]) if container in containers else None

    def database_secret(self) -> str | None:
        cluster = self.at("aws_rds_cluster", "database/cluster")
        if cluster is not None and cluster.body.get("manage_master_user_password"):
            return cluster.ref("master_user_secret[0].secret_arn")
        return self.ref("aws_secretsmanager_secret", "database/master_secret")

    def log_stream(self, path: str) -> str | None:
        group = self.ref("aws_cloudwatch_log_group", path)
        return f"{group}:log-stream:{RUNTIME}" if group else None

    def objects(self, path: str) -> str | None:
        bucket = self.ref("aws_s3_bucket", path)
        return f"{bucket}/{RUNTIME}" if bucket else None

    def repository(self) -> str | None:
        """The service's image repository: the stack's own, or in the DR region the replica ECR
        creates there from the primary's replication rule (no resource of the stack)."""
        own = self.ref("aws_ecr_repository", "ecr/repository")
        if own is not None or not self.scope:
            return own
        primary = Lookup(self.stack, self.service).at("aws_ecr_repository", "ecr/repository")
        replicated = any(
            destination.get("region") == self.region()
            for replication in self.stack.of_type("aws_ecr_replication_configuration")
            for rule in replication.body.get("replication_configuration", {}).get("rule", [])
            for destination in rule.get("destination", [])
        )
        return self.arn("ecr", f"repository/{primary.body['name']}") if primary and replicated else None


Presented = Callable[[Lookup], str | None]


@dataclass(frozen=True)
class Call:
    """One API call a role's service makes, and the resource AWS authorises it against."""

    action: str
    phase: str
    #: The ARN the service presents; "*" for actions without a resource type. None: the call is
    #: not made in this stack (e.g. no load test).
    resource: Presented
    #: A customer key the call uses on the caller's behalf (an encrypted topic, secret, bucket).
    key: Presented | None = None
    #: The service the call uses the key through (kms:ViaService), for ``key`` or for a KMS call
    #: itself; None: the caller calls KMS directly.
    via: str | None = None
    #: Other request context KMS sees (the encryption context, grants for AWS resources).
    context: Callable[[Lookup], dict[str, str]] | None = None
    #: The call is made in the DR Region (its key and service endpoint are there).
    in_dr: bool = False
    #: Made from inside the VPC, over the caller's own network interface: the endpoint service
    #: that carries it where the VPC has one (``com.amazonaws.<region>.<endpoint>``), NAT
    #: otherwise (aws_rules/network.py). None: AWS makes the call from its side (Lambda's and
    #: CodeBuild's network interfaces, Lambda's logs). Where AWS does not say, it counts as the VPC's.
    endpoint: str | None = None
    #: Authorised by a URL another service signed (ECR's image layers in S3), not by the role:
    #: only the endpoint policy applies.
    presigned: bool = False


def _star(_: Lookup) -> str:
    return "*"


def _ref(resource_type: str, path: str, attribute: str = "arn") -> Presented:
    return lambda look: look.ref(resource_type, path, attribute)


ARTIFACTS_KEY = _ref("aws_kms_key", "keys/artifacts_key")
LOAD_BALANCER_DESCRIBE = tuple(
    Call(f"elasticloadbalancing:{action}", "every shift and rollback", _star)
    for action in ("DescribeTargetGroups", "DescribeListeners", "DescribeRules", "DescribeTargetHealth")
)
ECR_PULL = tuple(
    # Docker's registry API, which Fargate pulls through (ECR's "dkr" endpoint).
    Call(f"ecr:{a}", "every task start (release, scale-out, rollback)", Lookup.repository, endpoint="ecr.dkr")
    for a in ("BatchCheckLayerAvailability", "GetDownloadUrlForLayer", "BatchGetImage")
)


def _image_layers(look: Lookup) -> str | None:
    """ECR's layer bucket of the region, which Fargate downloads from with URLs ECR signs.
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html#ecr-minimum-s3-perms"""
    if look.at("aws_ecs_service", "ecs/service") is None:
        return None
    return f"arn:aws:s3:::prod-{look.region()}-starport-layer-bucket/{RUNTIME}"


RELEASE_ALARMS_HOOK = _ref("aws_lambda_function", "release_alarms/release_alarms")
RELEASE_ALARMS = tuple(
    f"alarms/{key}" for key in ("release_5xx_rate", "release_p99_latency", "release_unhealthy_hosts")
)


def _interfaces(look: Lookup) -> str:
    return look.arn("ec2", f"network-interface/{RUNTIME}")


def _function_name(path: str) -> Callable[[Lookup], dict[str, str]]:
    def context(look: Lookup) -> dict[str, str]:
        function = look.at("aws_lambda_function", path)
        name = iam.literal(look.stack, str(function.body["function_name"])) if function else ""
        return {"kms:EncryptionContext:LambdaFunctionName": name}

    return context


def lambda_in_vpc(function: str) -> tuple[Call, ...]:
    """What a VPC, traced Lambda with a CMK-encrypted environment calls, for the function at ``function``."""
    return (
        *(Call(f"ec2:{a}", "create, invoke, delete", _star) for a in ("DescribeNetworkInterfaces", "DescribeSubnets")),
        *(
            Call(f"ec2:{a}", "create, invoke, delete", _interfaces)
            for a in (
                "CreateNetworkInterface",
                "DeleteNetworkInterface",
                "AssignPrivateIpAddresses",
                "UnassignPrivateIpAddresses",
            )
        ),
        Call("xray:PutTraceSegments", "every invocation", _star, endpoint="xray"),
        Call(
            "kms:Decrypt",
            "every cold start: its encrypted environment",
            ARTIFACTS_KEY,
            context=_function_name(function),
        ),
    )


def _service(look: Lookup) -> str | None:
    return look.ref("aws_ecs_service", "ecs/service", "id")  # the service's id is its ARN


def _unless_ecs(presented: Callable[[Lookup], str | None]) -> Callable[[Lookup], str | None]:
    """A call CodeDeploy's action makes, which the ECS controller's release step makes instead."""
    return lambda look: None if _is_ecs_native(look) else presented(look)


def _service_deployment(look: Lookup) -> str | None:
    cluster, service = (
        look.ref("aws_ecs_cluster", "cluster/cluster", "name"),
        look.ref("aws_ecs_service", "ecs/service", "name"),
    )
    return look.arn("ecs", f"service-deployment/{cluster}/{service}/{RUNTIME}") if cluster and service else None


def _task_set(look: Lookup) -> str | None:
    cluster, service = (
        look.ref("aws_ecs_cluster", "cluster/cluster", "name"),
        look.ref("aws_ecs_service", "ecs/service", "name"),
    )
    return look.arn("ecs", f"task-set/{cluster}/{service}/{RUNTIME}") if cluster and service else None


def _listeners(look: Lookup) -> list[str | None]:
    return [look.ref("aws_lb_listener", f"load_balancer/{n}_listener") for n in ("prod", "test")]


def _each(presented: Callable[[Lookup], list[str | None]]) -> Callable[[Lookup], Iterator[str | None]]:
    return lambda look: iter(presented(look))


def _deployment_config(look: Lookup) -> str | None:
    group = look.at("aws_codedeploy_deployment_group", "codepipeline/deployment_group")
    return look.arn("codedeploy", f"deploymentconfig:{group.body['deployment_config_name']}") if group else None


def _connection(look: Lookup) -> str | None:
    pipeline = look.at("aws_codepipeline", "codepipeline/pipeline")
    if pipeline is None:
        return None
    return str(pipeline.body["stage"][0]["action"][0]["configuration"]["ConnectionArn"])


def _test_certificate(look: Lookup) -> str | None:
    hook = look.at("aws_lambda_function", "deployment_hooks/test_traffic")
    variables = hook.body.get("environment", {}).get("variables", {}) if hook else {}
    return variables.get("TEST_CERTIFICATE_ARN")


def _replica_repository(look: Lookup) -> str | None:
    repository = look.at("aws_ecr_repository", "ecr/repository")
    if repository is None or not look.dr_region():
        return None
    return f"arn:aws:ecr:{look.dr_region()}:{look.account()}:repository/{repository.body['name']}"


#: A CodeBuild step reading the pipeline's artifacts: CodeBuild locates the bucket and checks its
#: owner (the documented minimum service role).
_BUCKET_IDENTITY = tuple(
    Call(action, "download the build's output", _ref("aws_s3_bucket", "codepipeline/artifacts/bucket"))
    for action in ("s3:GetBucketAcl", "s3:GetBucketLocation")
)


def _ecs_api_step(log_group: str, phase: str, reads: str) -> tuple[Call, ...]:
    """What the role of every step that calls only the ECS API (modules/codebuild.ecs_api_project)
    is called for: its log, the build's output and its bucket, registering a task definition."""
    return (
        Call("logs:CreateLogStream", phase, lambda look: look.log_stream(log_group)),
        Call("logs:PutLogEvents", phase, lambda look: look.log_stream(log_group)),
        Call(
            "s3:GetObject",
            f"{phase}: {reads}",
            lambda look: look.objects("codepipeline/artifacts/bucket"),
            ARTIFACTS_KEY,
            via="s3",
        ),
        *_BUCKET_IDENTITY,
        Call("ecs:RegisterTaskDefinition", phase, _star),
    )


@dataclass(frozen=True)
class RoleCalls:
    #: AWS's managed policy for that service role, which the calls were compared with.
    compared_with: str
    calls: tuple[Call, ...]
    #: Whether the role's service works in this stack at all (CodeDeploy does not under ECS-native).
    applies: Callable[[Lookup], bool] = lambda look: True
    #: The role's permissions are this AWS-managed policy (AWS keeps it in step with its service):
    #: the role must have it attached; the calls' key uses are still checked against the keys.
    managed: str | None = None


#: role construct path -> what its service calls.
CALLS: dict[str, RoleCalls] = {
    "roles/task_execution": RoleCalls(
        "AmazonECSTaskExecutionRolePolicy (+ the Secrets Manager statements ECS documents)",
        (
            # Fargate makes these through the task's network interface (platform 1.4+).
            Call("ecr:GetAuthorizationToken", "every task start", _star, endpoint="ecr.api"),
            *ECR_PULL,
            Call(
                "logs:CreateLogStream",
                "every task start",
                lambda look: look.log_stream("ecs/log_group"),
                endpoint="logs",
            ),
            Call(
                "logs:PutLogEvents", "while a task runs", lambda look: look.log_stream("ecs/log_group"), endpoint="logs"
            ),
            Call(
                "secretsmanager:GetSecretValue",
                "every task start",
                Lookup.database_secret,
                key=_ref("aws_kms_key", "keys/data_key"),
                via="secretsmanager",
                endpoint="secretsmanager",
            ),
            Call("s3:GetObject", "every task start: the image's layers", _image_layers, endpoint="s3", presigned=True),
        ),
    ),
    "roles/codebuild": RoleCalls(
        "the CodeBuild service role policy AWS documents",
        (
            Call("logs:CreateLogStream", "build", lambda look: look.log_stream("codepipeline/build_log_group")),
            Call("logs:PutLogEvents", "build", lambda look: look.log_stream("codepipeline/build_log_group")),
            Call(
                "s3:GetObject",
                "build: the source artifact",
                lambda look: look.objects("codepipeline/artifacts/bucket"),
                ARTIFACTS_KEY,
                via="s3",
            ),
            Call(
                "s3:PutObject",
                "build: taskdef, appspec, image detail",
                lambda look: look.objects("codepipeline/artifacts/bucket"),
                ARTIFACTS_KEY,
                via="s3",
            ),
            Call("s3:GetBucketAcl", "build", _ref("aws_s3_bucket", "codepipeline/artifacts/bucket")),
            Call("s3:GetBucketLocation", "build", _ref("aws_s3_bucket", "codepipeline/artifacts/bucket")),
            Call("ecr:GetAuthorizationToken", "build: docker login", _star),
            *(
                Call(f"ecr:{a}", "build: docker push", _ref("aws_ecr_repository", "ecr/repository"))
                for a in (
                    "InitiateLayerUpload",
                    "UploadLayerPart",
                    "CompleteLayerUpload",
                    "PutImage",
                    "BatchCheckLayerAvailability",
                )
            ),
        ),
    ),
    "roles/codepipeline": RoleCalls(
        "the CodePipeline service role policy for each action type used "
        "(CodeStarSourceConnection, CodeBuild, Manual, CodeDeployToECS or ECS)",
        (
            Call("codestar-connections:UseConnection", "source", _connection),
            Call(
                "s3:PutObject",
                "every stage",
                lambda look: look.objects("codepipeline/artifacts/bucket"),
                ARTIFACTS_KEY,
                via="s3",
            ),
            Call(
                "s3:GetObject",
                "every stage",
                lambda look: look.objects("codepipeline/artifacts/bucket"),
                ARTIFACTS_KEY,
                via="s3",
            ),
            Call("s3:GetBucketVersioning", "every stage", _ref("aws_s3_bucket", "codepipeline/artifacts/bucket")),
            Call("codebuild:StartBuild", "build", _ref("aws_codebuild_project", "codepipeline/build")),
            Call("codebuild:BatchGetBuilds", "build", _ref("aws_codebuild_project", "codepipeline/build")),
            Call("codebuild:StartBuild", "migrate", _ref("aws_codebuild_project", "migrations/project")),
            Call("codebuild:BatchGetBuilds", "migrate", _ref("aws_codebuild_project", "migrations/project")),
            # CodeDeployToECS registers the build's taskdef.json itself.
            Call("ecs:RegisterTaskDefinition", "deploy", lambda look: None if _is_ecs_native(look) else "*"),
            *(
                Call("iam:PassRole", "deploy: the new revision's roles", _unless_ecs(_ref("aws_iam_role", path)))
                for path in ("roles/task_execution", "roles/task")
            ),
            # Under the ECS controller the release step does (roles/ecs_release).
            Call("codebuild:StartBuild", "deploy", _ref("aws_codebuild_project", "ecs_release/project")),
            Call("codebuild:BatchGetBuilds", "deploy", _ref("aws_codebuild_project", "ecs_release/project")),
            Call(
                "sns:Publish",
                "approval",
                lambda look: look.ref("aws_sns_topic", "notifications/topic") if _has_approval(look) else None,
                key=_ref("aws_kms_key", "keys/notifications_key"),
                via="sns",
            ),
            # CodeDeployToECS
            Call(
                "codedeploy:CreateDeployment",
                "deploy",
                _ref("aws_codedeploy_deployment_group", "codepipeline/deployment_group"),
            ),
            Call(
                "codedeploy:GetDeployment",
                "deploy: until the shift ends",
                _ref("aws_codedeploy_deployment_group", "codepipeline/deployment_group"),
            ),
            Call(
                "codedeploy:RegisterApplicationRevision",
                "deploy",
                _ref("aws_codedeploy_app", "codepipeline/codedeploy_app"),
            ),
            Call(
                "codedeploy:GetApplicationRevision", "deploy", _ref("aws_codedeploy_app", "codepipeline/codedeploy_app")
            ),
            Call("codedeploy:GetDeploymentConfig", "deploy", _deployment_config),
        ),
    ),
    "roles/ecs_release": RoleCalls(
        "the CodeBuild service role policy, and what `aws ecs register-task-definition`, "
        "`update-service`, `list-service-deployments` and `describe-service-deployments` need",
        (
            *_ecs_api_step("ecs_release/log_group", "deploy", "imageDetail.json and taskdef.json"),
            Call("ecs:UpdateService", "deploy", _service),
            Call("ecs:ListServiceDeployments", "deploy: find the update's service deployment", _service),
            Call(
                "ecs:DescribeServiceDeployments",
                "deploy: until it ends (SUCCESSFUL, rolled back or stopped)",
                lambda look: _service_deployment(look),
            ),
            *(
                Call("iam:PassRole", "deploy: the new revision's roles", _ref("aws_iam_role", path))
                for path in ("roles/task_execution", "roles/task")
            ),
        ),
        applies=lambda look: look.at("aws_codebuild_project", "ecs_release/project") is not None,
    ),
    "roles/codedeploy": RoleCalls(
        "AWSCodeDeployRoleForECS",
        (
            Call("ecs:DescribeServices", "every deployment", _service),
            Call("ecs:CreateTaskSet", "install green", _service),
            Call("ecs:TagResource", "install green (propagated tags)", _task_set),
            Call("ecs:UpdateServicePrimaryTaskSet", "shift; rollback", _service),
            Call("ecs:DeleteTaskSet", "terminate blue; rollback", _task_set),
            *LOAD_BALANCER_DESCRIBE,
            Call(
                "elasticloadbalancing:ModifyListener", "test traffic, shift, rollback", lambda look: _listeners(look)[0]
            ),
            Call(
                "elasticloadbalancing:ModifyListener", "test traffic, shift, rollback", lambda look: _listeners(look)[1]
            ),
            Call("lambda:InvokeFunction", "BeforeInstall", RELEASE_ALARMS_HOOK),
            Call(
                "lambda:InvokeFunction",
                "AfterAllowTestTraffic",
                _ref("aws_lambda_function", "deployment_hooks/test_traffic"),
            ),
            *(
                Call("cloudwatch:DescribeAlarms", "the whole deployment", _ref("aws_cloudwatch_metric_alarm", path))
                for path in RELEASE_ALARMS
            ),
            Call("iam:PassRole", "install green", _ref("aws_iam_role", "roles/task_execution")),
        ),
        applies=lambda look: not _is_ecs_native(look),
    ),
    "roles/test_hook": RoleCalls(
        "AWSLambdaVPCAccessExecutionRole + AWSXRayDaemonWriteAccess",
        (
            *lambda_in_vpc("deployment_hooks/test_traffic"),
            Call(
                "logs:CreateLogStream", "every invocation", lambda look: look.log_stream("deployment_hooks/log_group")
            ),
            Call("logs:PutLogEvents", "every invocation", lambda look: look.log_stream("deployment_hooks/log_group")),
            Call(
                "acm:DescribeCertificate",
                "every invocation: green's expected name",
                _test_certificate,
                endpoint="acm",
            ),
            Call(
                "codedeploy:PutLifecycleEventHookExecutionStatus",
                "report the verdict",
                lambda look: None if _is_ecs_native(look) else "*",
                endpoint="codedeploy",
            ),
            Call(
                "codebuild:StartBuild",
                "start the load test",
                _ref("aws_codebuild_project", "load_test/project"),
                endpoint="codebuild",
            ),
            Call(
                "codebuild:BatchGetBuilds",
                "read the load test's verdict",
                _ref("aws_codebuild_project", "load_test/project"),
                endpoint="codebuild",
            ),
        ),
    ),
    "roles/load_test": RoleCalls(
        "the CodeBuild service role policy with VPC access",
        (
            *(
                Call(f"ec2:{a}", "build start and end", _star)
                for a in (
                    "CreateNetworkInterface",
                    "DescribeDhcpOptions",
                    "DescribeNetworkInterfaces",
                    "DeleteNetworkInterface",
                    "DescribeSubnets",
                    "DescribeSecurityGroups",
                    "DescribeVpcs",
                )
            ),
            Call(
                "ec2:CreateNetworkInterfacePermission",
                "build start",
                lambda look: look.arn("ec2", f"network-interface/{RUNTIME}"),
            ),
            # The build runs in the VPC: its log and the project's key count as the VPC's calls.
            Call("logs:CreateLogStream", "build", lambda look: look.log_stream("load_test/log_group"), endpoint="logs"),
            Call("logs:PutLogEvents", "build", lambda look: look.log_stream("load_test/log_group"), endpoint="logs"),
            Call("kms:GenerateDataKey", "build (the project's key)", ARTIFACTS_KEY, endpoint="kms"),
        ),
    ),
    "roles/ecs_infrastructure": RoleCalls(
        "AmazonECSInfrastructureRolePolicyForLoadBalancers",
        (
            *LOAD_BALANCER_DESCRIBE,
            *(
                Call(
                    f"elasticloadbalancing:{a}",
                    "install green; drain blue; rollback",
                    _ref("aws_lb_target_group", f"route/{colour}"),
                )
                for a in ("RegisterTargets", "DeregisterTargets")
                for colour in ("blue", "green")
            ),
            *(
                Call(
                    "elasticloadbalancing:ModifyRule",
                    "test traffic, shift, rollback",
                    _ref("aws_lb_listener_rule", f"route/{rule}"),
                )
                for rule in ("prod_rule", "test_rule")
            ),
        ),
    ),
    "roles/release_alarms": RoleCalls(
        "AWSLambdaVPCAccessExecutionRole + AWSXRayDaemonWriteAccess, and what hooks/release_alarms.py calls",
        (
            *lambda_in_vpc("release_alarms/release_alarms"),
            Call("logs:CreateLogStream", "every invocation", lambda look: look.log_stream("release_alarms/log_group")),
            Call("logs:PutLogEvents", "every invocation", lambda look: look.log_stream("release_alarms/log_group")),
            # Neither describe call has a resource type (Service Authorization Reference, ELB v2).
            Call(
                "elasticloadbalancing:DescribeListeners",
                "find production",
                lambda look: None if _is_ecs_native(look) else "*",
                endpoint="elasticloadbalancing",
            ),
            Call(
                "elasticloadbalancing:DescribeRules",
                "find production",
                lambda look: "*" if _is_ecs_native(look) else None,
                endpoint="elasticloadbalancing",
            ),
            *(
                Call(
                    action, "point the alarm at green", _ref("aws_cloudwatch_metric_alarm", path), endpoint="monitoring"
                )
                for action in ("cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm")
                for path in RELEASE_ALARMS
            ),
            Call(
                "codedeploy:PutLifecycleEventHookExecutionStatus",
                "report the verdict",
                lambda look: None if _is_ecs_native(look) else "*",
                endpoint="codedeploy",
            ),
        ),
    ),
    "roles/ecs_hook_invoker": RoleCalls(
        "the ECS blue/green lifecycle hook permissions",
        (
            Call("lambda:InvokeFunction", "PRE_SCALE_UP", RELEASE_ALARMS_HOOK),
            Call(
                "lambda:InvokeFunction",
                "POST_TEST_TRAFFIC_SHIFT",
                _ref("aws_lambda_function", "deployment_hooks/test_traffic"),
            ),
        ),
    ),
    "roles/migrate": RoleCalls(
        "the CodeBuild service role policy, and what `aws ecs register-task-definition` and `run-task` need",
        (
            *_ecs_api_step("migrations/log_group", "migrate", "imageDetail.json"),
            Call("ecs:RunTask", "migrate", lambda look: _migration_task(look)),
            Call("ecs:DescribeTasks", "migrate: wait for the exit code", lambda look: _cluster_task(look)),
            Call("iam:PassRole", "migrate: the task's execution role", _ref("aws_iam_role", "roles/task_execution")),
        ),
    ),
    "roles/task": RoleCalls(
        "none: the application's own identity may only sign in to its database",
        (Call("rds-db:connect", "every new database connection", lambda look: _database_user(look)),),
    ),
    "roles/flow_logs": RoleCalls(
        "the flow logs role policy AWS documents",
        (
            Call("logs:DescribeLogGroups", "delivery", _star),
            Call("logs:CreateLogStream", "delivery", lambda look: look.log_stream("networking/flow_log_group")),
            Call("logs:PutLogEvents", "delivery", lambda look: look.log_stream("networking/flow_log_group")),
            Call("logs:DescribeLogStreams", "delivery", lambda look: look.log_stream("networking/flow_log_group")),
        ),
    ),
    "roles/ecr_replica_creator": RoleCalls(
        "the repository creation template's custom role as ECR documents it (CreateRepository, "
        "ReplicateImage, TagResource, and a grant on the template's KMS key)",
        (
            *(
                Call(f"ecr:{a}", "first replication of an image", _replica_repository)
                for a in ("CreateRepository", "ReplicateImage", "TagResource")
            ),
            *(
                Call(
                    f"kms:{a}",
                    "first replication: the replica repository's key",
                    _ref("aws_kms_key", "dr/keys/artifacts_key"),
                    via="ecr",
                    in_dr=True,
                )
                for a in ("CreateGrant", "DescribeKey")
            ),
        ),
    ),
    "roles/backup": RoleCalls(
        "AWSBackupServiceRolePolicyForBackup (Aurora snapshots, copied to the DR Region's vault)",
        (
            *(
                Call(
                    f"kms:{a}", "daily backup: the cluster's snapshot", _ref("aws_kms_key", "keys/data_key"), via="rds"
                )
                for a in ("CreateGrant", "DescribeKey", "Decrypt")
            ),
            *(
                Call(
                    f"kms:{a}",
                    "daily copy to the DR vault",
                    _ref("aws_kms_key", "dr/keys/data_key"),
                    via="rds",
                    in_dr=True,
                )
                for a in ("CreateGrant", "DescribeKey", "GenerateDataKey")
            ),
        ),
        managed="AWSBackupServiceRolePolicyForBackup",
    ),
}


def _migration_task(look: Lookup) -> str | None:
    family = look.stack_family("migrate")
    return look.arn("ecs", f"task-definition/{family}:{RUNTIME}") if family else None


def _cluster_task(look: Lookup) -> str | None:
    cluster = look.ref("aws_ecs_cluster", "cluster/cluster", "name")
    return look.arn("ecs", f"task/{cluster}/{RUNTIME}") if cluster else None


def _database_user(look: Lookup) -> str | None:
    cluster = look.ref("aws_rds_cluster", "database/cluster", "cluster_resource_id")
    project = look.at("aws_codebuild_project", "migrations/project")
    if cluster is None or project is None:
        return None
    variables = {v["name"]: v["value"] for v in project.body["environment"]["environment_variable"]}
    user = iam.json_document(variables["MIGRATE_TASKDEF"])["containerDefinitions"][0]["environment"]
    name = next(e["value"] for e in user if e["name"] == "DB_USER")
    return look.arn("rds-db", f"dbuser:{cluster}/{name}")


def _is_ecs_native(look: Lookup) -> bool:
    """The ECS controller deploys the service (ECS-native blue/green, or a rolling release)."""
    service = look.at("aws_ecs_service", "ecs/service")
    return service is not None and service.body.get("deployment_controller", {}).get("type") == "ECS"


def _has_approval(look: Lookup) -> bool:
    pipeline = look.at("aws_codepipeline", "codepipeline/pipeline")
    return pipeline is not None and any(stage["name"] == "Approve" for stage in pipeline.body["stage"])


@dataclass(frozen=True)
class Denied:
    role: str
    call: Call
    resource: str
    why: str

    def __str__(self) -> str:
        return f"{self.role} cannot {self.call.action} on {self.resource} ({self.call.phase}): {self.why}"


def policy_documents(stack: Stack, role: Resource) -> list[str]:
    return iam.documents(stack, role)


def key_requests(look: Lookup, role: Resource, call: Call, presented: str) -> Iterator[tuple[str, keys.Request]]:
    """The KMS requests a call makes for ``role``: (key reference, request), for the key of what it
    touches (``call.key``) or for a KMS call itself."""
    if call.key is not None:
        key = call.key(look)
        actions: tuple[str, ...] = (
            ("kms:Decrypt",) if call.action.split(":")[1].startswith("Get") else ("kms:GenerateDataKey",)
        )
    elif call.action.startswith("kms:"):
        key, actions = presented, (call.action,)
    else:
        return
    target = iam.target(look.stack, key) if key else None
    if key is None or target is None or target.type != "aws_kms_key":
        return
    region = look.dr_region() if call.in_dr else look.region()
    for action in actions:
        context = {
            **({"kms:ViaService": keys.via(call.via, region)} if call.via else {}),
            **(call.context(look) if call.context else {}),
            **keys.grant_context(action),
        }
        yield key, keys.Request(keys.Principal("role", role.ref("arn")), action, context)


def services_of(stack: Stack) -> list[str | None]:
    """The keys of the stack's services (``services/<key>/...``), or [None] for a stack without any."""
    found = sorted({r.path.split("/")[1] for r in stack.resources.values() if r.path.startswith(f"{SERVICES}/")})
    return list(found) or [None]


def stale(stacks: list[Stack], table: dict[str, RoleCalls] = CALLS) -> list[str]:
    """Rows of ``table`` that no stack makes: each is skipped everywhere, so it checks nothing."""
    looks = [Lookup(s, key) for s in stacks for key in services_of(s)]
    return [
        f"{path}: {call.action} ({call.phase})"
        for path, role_calls in table.items()
        for call in role_calls.calls
        if not any(
            look.at("aws_iam_role", path) is not None and role_calls.applies(look) and call.resource(look) is not None
            for look in looks
        )
    ]


#: The role the app's own calls are made as (its config grants: aws_rules/grants.py).
TASK_ROLE = "roles/task"


def denied(stack: Stack, granted: Mapping[str, Sequence[Call]] | None = None) -> Iterator[Denied]:
    """Every listed call a role of the stack cannot make, for each of its services, and each call
    of ``granted`` (service key -> the calls of its config grants) its task role cannot make."""
    for key in services_of(stack):
        yield from _denied(stack, Lookup(stack, key))
    for key, calls in (granted or {}).items():
        look = Lookup(stack, key)
        role = look.at("aws_iam_role", TASK_ROLE)
        if role is None:
            yield Denied(f"services/{key}/{TASK_ROLE}", calls[0], "-", "the service has no task role")
            continue
        documents = [iam.literal(stack, d) for d in policy_documents(stack, role)]
        for call in calls:
            resource = iam.literal(stack, str(call.resource(look)))
            if not any(iam.allows(d, call.action, resource) for d in documents):
                yield Denied(role.path, call, resource, "no statement of its policies allows this config grant")


def _denied(stack: Stack, look: Lookup) -> Iterator[Denied]:
    root = keys.account_root(stack)
    for path, role_calls in CALLS.items():
        role = look.at("aws_iam_role", path)
        if role is None or not role_calls.applies(look):
            continue
        documents = [iam.literal(stack, d) for d in policy_documents(stack, role)]
        if role_calls.managed and not list(iam.managed(iam.role_policies(stack, role), role_calls.managed)):
            yield Denied(path, role_calls.calls[0], role_calls.managed, "the AWS-managed policy is not attached")
        for call in role_calls.calls:
            presented = call.resource(look)
            if presented is None or call.presigned:
                continue
            resource = iam.literal(stack, presented)
            if not role_calls.managed and not any(iam.allows(d, call.action, resource) for d in documents):
                yield Denied(path, call, resource, "no statement of its policies allows it there")
            for key_reference, request in key_requests(look, role, call, presented):
                iam_allows = any(iam.allows(d, request.action, key_reference) for d in documents)
                if call.key is not None and not role_calls.managed and not iam_allows:
                    yield Denied(
                        path, Call(request.action, call.phase, _star), key_reference, f"{call.action} uses this key"
                    )
                key = iam.target(stack, key_reference)
                assert key is not None
                admitting = keys.admitting(key.body.get("policy", "{}"), request, root)
                if not admitting:
                    yield Denied(
                        path,
                        Call(request.action, call.phase, _star),
                        key_reference,
                        f"the key policy admits no {request.action} by this role for {call.action} "
                        f"(context {dict(request.context)})",
                    )
