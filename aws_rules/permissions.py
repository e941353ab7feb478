"""Rule 3: each role can make every call its service makes during a release and a rollback.

For each role, the table lists the API calls its service makes (build, deploy, test traffic,
shift, wait, terminate, rollback), and the resource AWS authorises each call against: an ARN as
the service presents it, or ``*`` where the Service Authorization Reference gives the action no
resource type. Compared with AWS's managed policy for that service role (named per role); ours
are narrower, which is why the calls are listed here and tested.

A call on something encrypted with a customer key also needs the key: the role's policy must
allow it, and the key policy must let IAM policies grant it (the account-root statement) or
name the role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from aws_rules import iam
from aws_rules.stack import Resource, Stack

#: A stand-in for the parts of an ARN a service fills in at run time (a stream, a task id).
RUNTIME = "runtime-id"


class Lookup:
    """Resources of one region by construct path, and the ARNs services present: the primary
    region's, or (``scope`` "dr/") the DR region's, built by the same constructs under "dr/"."""

    def __init__(self, stack: Stack, scope: str = "") -> None:
        self.stack = stack
        self.scope = scope

    def at(self, resource_type: str, path: str) -> Resource | None:
        found = [r for r in self.stack.of_type(resource_type) if r.path == f"{self.scope}{path}"]
        return found[0] if found else None

    def ref(self, resource_type: str, path: str, attribute: str = "arn") -> str | None:
        resource = self.at(resource_type, path)
        return resource.ref(attribute) if resource else None

    def region(self) -> str:
        return self.stack.regions.get(f"aws.{self.scope.rstrip('/')}" if self.scope else "aws", "")

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
        primary = Lookup(self.stack).at("aws_ecr_repository", "ecr/repository")
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
    #: Made from inside the VPC, over the caller's own network interface: the endpoint service
    #: that carries it where the VPC has one (``com.amazonaws.<region>.<via>``), NAT otherwise
    #: (aws_rules/network.py). None: AWS makes the call from its side (Lambda's and CodeBuild's
    #: network interfaces, Lambda's logs). Where AWS does not say, the call counts as the VPC's.
    via: str | None = None
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
    Call(f"ecr:{a}", "every task start (release, scale-out, rollback)", Lookup.repository, via="ecr.dkr")
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


#: Lambda manages the function's network interfaces and decrypts its environment from its own side;
#: the X-Ray daemon runs beside the function, so its traces count as the function's network's.
LAMBDA_IN_VPC = (
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
    Call("xray:PutTraceSegments", "every invocation", _star, via="xray"),
    Call("kms:Decrypt", "every cold start: its encrypted environment", ARTIFACTS_KEY),
)


def _service(look: Lookup) -> str | None:
    return look.ref("aws_ecs_service", "ecs/service", "id")  # the service's id is its ARN


def _task_set(look: Lookup) -> str | None:
    cluster, service = (
        look.ref("aws_ecs_cluster", "ecs/cluster", "name"),
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


@dataclass(frozen=True)
class RoleCalls:
    #: AWS's managed policy for that service role, which the calls were compared with.
    compared_with: str
    calls: tuple[Call, ...]
    #: Whether the role's service works in this stack at all (CodeDeploy does not under ECS-native).
    applies: Callable[[Lookup], bool] = lambda look: True


#: role construct path -> what its service calls.
CALLS: dict[str, RoleCalls] = {
    "roles/task_execution": RoleCalls(
        "AmazonECSTaskExecutionRolePolicy (+ the Secrets Manager statements ECS documents)",
        (
            # Fargate makes these through the task's network interface (platform 1.4+).
            Call("ecr:GetAuthorizationToken", "every task start", _star, via="ecr.api"),
            *ECR_PULL,
            Call(
                "logs:CreateLogStream",
                "every task start",
                lambda look: look.log_stream("ecs/log_group"),
                via="logs",
            ),
            Call("logs:PutLogEvents", "while a task runs", lambda look: look.log_stream("ecs/log_group"), via="logs"),
            Call(
                "secretsmanager:GetSecretValue",
                "every task start",
                Lookup.database_secret,
                key=_ref("aws_kms_key", "keys/data_key"),
                via="secretsmanager",
            ),
            Call("s3:GetObject", "every task start: the image's layers", _image_layers, via="s3", presigned=True),
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
            ),
            Call(
                "s3:PutObject",
                "build: taskdef, appspec, image detail",
                lambda look: look.objects("codepipeline/artifacts/bucket"),
                ARTIFACTS_KEY,
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
                "s3:PutObject", "every stage", lambda look: look.objects("codepipeline/artifacts/bucket"), ARTIFACTS_KEY
            ),
            Call(
                "s3:GetObject", "every stage", lambda look: look.objects("codepipeline/artifacts/bucket"), ARTIFACTS_KEY
            ),
            Call("s3:GetBucketVersioning", "every stage", _ref("aws_s3_bucket", "codepipeline/artifacts/bucket")),
            Call("codebuild:StartBuild", "build", _ref("aws_codebuild_project", "codepipeline/build")),
            Call("codebuild:BatchGetBuilds", "build", _ref("aws_codebuild_project", "codepipeline/build")),
            Call("codebuild:StartBuild", "migrate", _ref("aws_codebuild_project", "migrations/project")),
            Call("codebuild:BatchGetBuilds", "migrate", _ref("aws_codebuild_project", "migrations/project")),
            Call("ecs:RegisterTaskDefinition", "deploy", _star),
            Call("iam:PassRole", "deploy: the new revision's roles", _ref("aws_iam_role", "roles/task_execution")),
            Call("iam:PassRole", "deploy: the new revision's roles", _ref("aws_iam_role", "roles/task")),
            Call(
                "sns:Publish",
                "approval",
                lambda look: look.ref("aws_sns_topic", "notifications/topic") if _has_approval(look) else None,
                key=_ref("aws_kms_key", "keys/notifications_key"),
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
            # The ECS deploy action (ECS-native blue/green)
            *(
                Call(f"ecs:{a}", "deploy", lambda look: _service(look) if _is_ecs_native(look) else None)
                for a in ("DescribeServices", "UpdateService")
            ),
            Call("ecs:DescribeTaskDefinition", "deploy", lambda look: "*" if _is_ecs_native(look) else None),
            Call("ecs:ListTasks", "deploy: follow the new tasks", lambda look: "*" if _is_ecs_native(look) else None),
        ),
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
            *LAMBDA_IN_VPC,
            Call(
                "logs:CreateLogStream", "every invocation", lambda look: look.log_stream("deployment_hooks/log_group")
            ),
            Call("logs:PutLogEvents", "every invocation", lambda look: look.log_stream("deployment_hooks/log_group")),
            Call(
                "acm:DescribeCertificate",
                "every invocation: green's expected name",
                _test_certificate,
                via="acm",
            ),
            Call(
                "codedeploy:PutLifecycleEventHookExecutionStatus",
                "report the verdict",
                lambda look: None if _is_ecs_native(look) else "*",
                via="codedeploy",
            ),
            Call(
                "codebuild:StartBuild",
                "start the load test",
                _ref("aws_codebuild_project", "load_test/project"),
                via="codebuild",
            ),
            Call(
                "codebuild:BatchGetBuilds",
                "read the load test's verdict",
                _ref("aws_codebuild_project", "load_test/project"),
                via="codebuild",
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
            Call("logs:CreateLogStream", "build", lambda look: look.log_stream("load_test/log_group"), via="logs"),
            Call("logs:PutLogEvents", "build", lambda look: look.log_stream("load_test/log_group"), via="logs"),
            Call("kms:GenerateDataKey", "build (the project's key)", ARTIFACTS_KEY, via="kms"),
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
                    _ref("aws_lb_target_group", f"load_balancer/{colour}"),
                )
                for a in ("RegisterTargets", "DeregisterTargets")
                for colour in ("blue", "green")
            ),
            *(
                Call(
                    "elasticloadbalancing:ModifyRule",
                    "test traffic, shift, rollback",
                    _ref("aws_lb_listener_rule", f"load_balancer/{rule}"),
                )
                for rule in ("prod_rule", "test_rule")
            ),
        ),
    ),
    "roles/release_alarms": RoleCalls(
        "AWSLambdaVPCAccessExecutionRole + AWSXRayDaemonWriteAccess, and what hooks/release_alarms.py calls",
        (
            *LAMBDA_IN_VPC,
            Call("logs:CreateLogStream", "every invocation", lambda look: look.log_stream("release_alarms/log_group")),
            Call("logs:PutLogEvents", "every invocation", lambda look: look.log_stream("release_alarms/log_group")),
            # Neither describe call has a resource type (Service Authorization Reference, ELB v2).
            Call(
                "elasticloadbalancing:DescribeListeners",
                "find production",
                lambda look: None if _is_ecs_native(look) else "*",
                via="elasticloadbalancing",
            ),
            Call(
                "elasticloadbalancing:DescribeRules",
                "find production",
                lambda look: "*" if _is_ecs_native(look) else None,
                via="elasticloadbalancing",
            ),
            *(
                Call(action, "point the alarm at green", _ref("aws_cloudwatch_metric_alarm", path), via="monitoring")
                for action in ("cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm")
                for path in RELEASE_ALARMS
            ),
            Call(
                "codedeploy:PutLifecycleEventHookExecutionStatus",
                "report the verdict",
                lambda look: None if _is_ecs_native(look) else "*",
                via="codedeploy",
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
            Call("logs:CreateLogStream", "migrate", lambda look: look.log_stream("migrations/log_group")),
            Call("logs:PutLogEvents", "migrate", lambda look: look.log_stream("migrations/log_group")),
            Call(
                "s3:GetObject",
                "migrate: imageDetail.json",
                lambda look: look.objects("codepipeline/artifacts/bucket"),
                ARTIFACTS_KEY,
            ),
            Call("ecs:RegisterTaskDefinition", "migrate", _star),
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
}


def _migration_task(look: Lookup) -> str | None:
    family = look.stack_family("migrate")
    return look.arn("ecs", f"task-definition/{family}:{RUNTIME}") if family else None


def _cluster_task(look: Lookup) -> str | None:
    cluster = look.ref("aws_ecs_cluster", "ecs/cluster", "name")
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
    return [p.body["policy"] for p in iam.role_policies(stack, role) if p.type == iam.ROLE_POLICY]


def key_admits_iam(stack: Stack, key: Resource, role: Resource) -> bool:
    """The key policy delegates to IAM (the account root may use the key) or names the role."""
    for statement in iam.statements(key.body.get("policy", "{}")):
        if statement.get("Effect") != "Allow":
            continue
        named = iam.principals(statement)
        if any(p.endswith(":root") for p in named) or role.ref("arn") in named:
            return True
    return False


def stale(stacks: list[Stack], table: dict[str, RoleCalls] = CALLS) -> list[str]:
    """Rows of ``table`` that no stack makes: each is skipped everywhere, so it checks nothing."""
    looks = [Lookup(s) for s in stacks]
    return [
        f"{path}: {call.action} ({call.phase})"
        for path, role_calls in table.items()
        for call in role_calls.calls
        if not any(
            look.at("aws_iam_role", path) is not None and role_calls.applies(look) and call.resource(look) is not None
            for look in looks
        )
    ]


def denied(stack: Stack) -> Iterator[Denied]:
    """Every listed call a role of the stack cannot make."""
    look = Lookup(stack)
    for path, role_calls in CALLS.items():
        role = look.at("aws_iam_role", path)
        if role is None or not role_calls.applies(look):
            continue
        documents = [iam.literal(stack, d) for d in policy_documents(stack, role)]
        for call in role_calls.calls:
            presented = call.resource(look)
            if presented is None or call.presigned:
                continue
            resource = iam.literal(stack, presented)
            if not any(iam.allows(d, call.action, resource) for d in documents):
                yield Denied(path, call, resource, "no statement of its policies allows it there")
            key_reference = call.key(look) if call.key else None
            if key_reference is None:
                continue
            key = iam.target(stack, key_reference)
            actions = ("kms:Decrypt",) if call.action.split(":")[1].startswith("Get") else ("kms:GenerateDataKey",)
            for action in actions:
                if not any(iam.allows(d, action, key_reference) for d in documents):
                    yield Denied(path, Call(action, call.phase, _star), key_reference, f"{call.action} uses this key")
            if key is not None and not key_admits_iam(stack, key, role):
                yield Denied(path, call, key_reference, "the key policy neither delegates to IAM nor names the role")
