"""moto defects that stop the real AWS provider; each patch restores one documented AWS behaviour.

Every patch is a function named after the AWS behaviour it restores, with a one-line docstring
saying what real AWS does. moto is imported inside each patch, so importing this module is cheap
and needs no moto.
"""

from __future__ import annotations

import datetime
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

PATCHES: list[Callable[[], None]] = []


def patch(function: Callable[[], None]) -> Callable[[], None]:
    PATCHES.append(function)
    return function


def apply_all() -> list[str]:
    for function in PATCHES:
        function()
    return [function.__name__ for function in PATCHES]


def _install(owner: Any, name: str, value: Any) -> None:
    """Replace ``owner.name`` (moto is untyped territory for these few assignments)."""
    setattr(owner, name, value)


def _intercept(service: str, handle: Callable[[Any, str], Any | None]) -> None:
    """Answer some requests for ``service`` before moto's dispatcher (which lacks those operations).

    ``handle(request, region)`` returns a werkzeug Response, or None to let moto answer.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from werkzeug.wrappers import Request

    dispatch = DomainDispatcherApplication.__call__

    def wrapper(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        scope = environ.get("HTTP_AUTHORIZATION", "").split("Credential=")[-1].split(",")[0].split("/")
        if len(scope) == 5 and scope[3] == service:
            response = handle(Request(environ), scope[2])
            if response is not None:
                return response(environ, start_response)
        return dispatch(self, environ, start_response)

    _install(DomainDispatcherApplication, "__call__", wrapper)


def _json(answer: dict[str, Any], status: int = 200, error: str | None = None) -> Any:
    from werkzeug.wrappers import Response

    headers = {"x-amzn-ErrorType": error} if error else {}
    return Response(json.dumps(answer, default=str), status=status, headers=headers, content_type="application/json")


# --- S3 -------------------------------------------------------------------------------------------


@patch
def s3_put_bucket_logging_does_not_inspect_the_target_bucket_policy() -> None:
    """AWS S3 accepts PutBucketLogging without reading the target bucket's policy (it authorises each delivery)."""
    from moto.s3.models import FakeBucket

    _install(FakeBucket, "_log_permissions_enabled_policy", staticmethod(lambda target_bucket, target_prefix: True))


# --- CodeBuild ------------------------------------------------------------------------------------


@patch
def codebuild_sources_and_artifacts_without_a_location_need_none() -> None:
    """AWS CodeBuild takes source and artifacts of type CODEPIPELINE (the pipeline supplies them),
    NO_SOURCE (the buildspec is inline) and NO_ARTIFACTS without a location."""
    from moto.codebuild import responses

    validate_source = responses._validate_required_params_source
    validate_artifacts = responses._validate_required_params_artifacts

    def source(value: dict[str, Any]) -> None:
        locationless = value.get("type") in {"CODEPIPELINE", "NO_SOURCE"}
        validate_source({"location": "none", **value} if locationless else value)

    def artifacts(value: dict[str, Any]) -> None:  # moto already takes NO_ARTIFACTS without one
        validate_artifacts({"location": "none", **value} if value.get("type") == "CODEPIPELINE" else value)

    _install(responses, "_validate_required_params_source", source)
    _install(responses, "_validate_required_params_artifacts", artifacts)


@patch
def codebuild_project_keeps_its_encryption_key() -> None:
    """AWS CodeBuild stores the project's encryptionKey (the KMS key given, else the account's aws/s3 key)."""
    from moto.codebuild.responses import CodeBuildResponse

    create_project = CodeBuildResponse.create_project

    def wrapper(self: Any) -> Any:
        result = create_project(self)
        key = self._get_param("encryptionKey")
        if key:
            self.codebuild_backend.codebuild_projects[self._get_param("name")].project_metadata["encryptionKey"] = key
        return result

    _install(CodeBuildResponse, "create_project", wrapper)


# --- CodeDeploy -----------------------------------------------------------------------------------


@patch
def codedeploy_deployment_group_reports_its_alarm_configuration() -> None:
    """AWS CodeDeploy returns the deployment group's alarmConfiguration as it was set."""
    from moto.codedeploy import responses

    info = responses._deployment_group_info

    def wrapper(group: Any) -> dict[str, Any]:
        result = info(group)
        result["alarmConfiguration"] = group.alarm_configuration or {"enabled": False, "alarms": []}
        return result

    _install(responses, "_deployment_group_info", wrapper)


@patch
def codedeploy_deletes_deployment_groups_and_applications() -> None:
    """AWS CodeDeploy has DeleteDeploymentGroup and DeleteApplication (deleting an application deletes its groups)."""
    from moto.codedeploy.models import CodeDeployBackend
    from moto.codedeploy.responses import CodeDeployResponse
    from moto.core.responses import ActionResult, EmptyResult

    def delete_deployment_group(self: Any) -> Any:
        backend: CodeDeployBackend = self.codedeploy_backend
        application, name = self._get_param("applicationName"), self._get_param("deploymentGroupName")
        backend.get_application(application)
        backend.deployment_groups.get(application, {}).pop(name, None)
        return ActionResult({"hooksNotCleanedUp": []})

    def delete_application(self: Any) -> Any:
        backend: CodeDeployBackend = self.codedeploy_backend
        name = self._get_param("applicationName")
        backend.applications.pop(name, None)
        backend.deployment_groups.pop(name, None)
        return EmptyResult()

    _install(CodeDeployResponse, "delete_deployment_group", delete_deployment_group)
    _install(CodeDeployResponse, "delete_application", delete_application)


@patch
def codedeploy_manages_custom_deployment_configs() -> None:
    """AWS CodeDeploy has CreateDeploymentConfig, GetDeploymentConfig and DeleteDeploymentConfig."""
    from moto.codedeploy.responses import CodeDeployResponse
    from moto.core.exceptions import JsonRESTError
    from moto.core.responses import ActionResult, EmptyResult

    def configs(self: Any) -> dict[str, dict[str, Any]]:
        backend = self.codedeploy_backend
        if not hasattr(backend, "custom_deployment_configs"):
            backend.custom_deployment_configs = {}
        found: dict[str, dict[str, Any]] = backend.custom_deployment_configs
        return found

    def create_deployment_config(self: Any) -> Any:
        info = {
            "deploymentConfigId": str(uuid.uuid4()),
            "deploymentConfigName": self._get_param("deploymentConfigName"),
            "computePlatform": self._get_param("computePlatform") or "Server",
            "createTime": time.time(),
        }
        for key in ("minimumHealthyHosts", "trafficRoutingConfig", "zonalConfig"):
            if self._get_param(key) is not None:
                info[key] = self._get_param(key)
        configs(self)[info["deploymentConfigName"]] = info
        return ActionResult({"deploymentConfigId": info["deploymentConfigId"]})

    def get_deployment_config(self: Any) -> Any:
        name = self._get_param("deploymentConfigName")
        if name not in configs(self):
            raise JsonRESTError("DeploymentConfigDoesNotExistException", f"No deployment configuration named {name}")
        return ActionResult({"deploymentConfigInfo": configs(self)[name]})

    def delete_deployment_config(self: Any) -> Any:
        configs(self).pop(self._get_param("deploymentConfigName"), None)
        return EmptyResult()

    _install(CodeDeployResponse, "create_deployment_config", create_deployment_config)
    _install(CodeDeployResponse, "get_deployment_config", get_deployment_config)
    _install(CodeDeployResponse, "delete_deployment_config", delete_deployment_config)


# --- CodePipeline ---------------------------------------------------------------------------------


@patch
def codepipeline_metadata_timestamps_are_epoch_seconds() -> None:
    """AWS CodePipeline (JSON protocol) sends created/updated as epoch seconds, not ISO strings."""
    from moto.codepipeline.models import CodePipeline

    def metadata(self: Any) -> dict[str, Any]:
        def epoch(moment: datetime.datetime) -> float:
            return moment.replace(tzinfo=moment.tzinfo or datetime.UTC).timestamp()

        return {"pipelineArn": self._arn, "created": epoch(self._created), "updated": epoch(self._updated)}

    _install(CodePipeline, "metadata", property(metadata))


# --- RDS ------------------------------------------------------------------------------------------


@patch
def rds_instance_keeps_performance_insights_settings() -> None:
    """AWS RDS stores PerformanceInsightsEnabled, its KMS key and retention (7 days by default) on the instance."""
    from moto.rds.models import DBInstance

    init = DBInstance.__init__

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        enabled = bool(kwargs.get("enable_performance_insights"))
        self.performance_insights_enabled = enabled
        if enabled:
            self.performance_insights_kms_key_id = kwargs.get("performance_insights_kms_key_id")
            self.performance_insights_retention_period = kwargs.get("performance_insights_retention_period") or 7

    _install(DBInstance, "__init__", wrapper)


@patch
def rds_instance_default_ca_is_rds_ca_rsa2048_g1() -> None:
    """AWS RDS gives new instances the rds-ca-rsa2048-g1 CA by default (rds-ca-default expired in 2024)."""
    from moto.rds.models import DBInstance

    init = DBInstance.__init__

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("ca_certificate_identifier", "rds-ca-rsa2048-g1")
        init(self, *args, **kwargs)

    _install(DBInstance, "__init__", wrapper)


@patch
def rds_parameters_set_by_the_user_have_source_user() -> None:
    """AWS RDS reports the parameters set with ModifyDBParameterGroup with Source "user"."""
    from moto.rds.models import DBParameterGroup

    update_parameters = DBParameterGroup.update_parameters

    def wrapper(self: Any, new_parameters: Any) -> None:
        update_parameters(self, [{"Source": "user", **parameter} for parameter in new_parameters])

    _install(DBParameterGroup, "update_parameters", wrapper)


@patch
def rds_cluster_reports_no_scaling_configuration_unless_serverless_v1() -> None:
    """AWS RDS omits ScalingConfigurationInfo for clusters that are not Serverless v1."""
    from moto.rds.models import DBCluster

    info = DBCluster.__dict__["scaling_configuration_info"].fget

    def scaling_configuration_info(self: Any) -> dict[str, Any] | None:
        return info(self) if self.scaling_configuration else None

    _install(DBCluster, "scaling_configuration_info", property(scaling_configuration_info))


@patch
def rds_global_cluster_keeps_its_tags() -> None:
    """AWS RDS tags a global cluster with the Tags given to CreateGlobalCluster."""
    from moto.rds.responses import RDSResponse

    create_global_cluster = RDSResponse.create_global_cluster

    def wrapper(self: Any) -> Any:
        result = create_global_cluster(self)
        payload: Any = result.result
        payload["GlobalCluster"].add_tags(
            [{"Key": t["Key"], "Value": t["Value"]} for t in self.params.get("Tags") or []]
        )
        return result

    _install(RDSResponse, "create_global_cluster", wrapper)


@patch
def rds_clusters_leave_their_global_cluster_from_any_region() -> None:
    """AWS RDS removes a cluster from its global cluster (RemoveFromGlobalCluster, or deleting it)
    whichever region it is in, and takes its ARN; moto looked only in the cluster's own region."""
    from moto.rds.models import RDSBackend, rds_backends

    delete_db_cluster = RDSBackend.delete_db_cluster

    def leave(self: Any, global_cluster_identifier: str, db_cluster_identifier: str) -> Any:
        def member(cluster: Any) -> bool:
            if db_cluster_identifier.startswith("arn:"):
                return bool(cluster.db_cluster_arn == db_cluster_identifier)
            return bool(cluster.db_cluster_identifier == db_cluster_identifier and cluster.region == self.region_name)

        for backend in list(rds_backends[self.account_id].values()):
            global_cluster = backend.global_clusters.get(global_cluster_identifier)
            if global_cluster is not None:
                global_cluster.members = [m for m in global_cluster.members if not member(m)]
                return global_cluster
        return None

    def delete(self: Any, cluster_identifier: str, snapshot_name: str | None = None) -> Any:
        cluster = self.clusters.get(cluster_identifier)
        if cluster is not None and cluster.global_cluster_identifier and not cluster.deletion_protection:
            leave(self, cluster.global_cluster_identifier, cluster.db_cluster_arn)
        return delete_db_cluster(self, cluster_identifier, snapshot_name)

    _install(RDSBackend, "remove_from_global_cluster", leave)
    _install(RDSBackend, "delete_db_cluster", delete)


# --- Secrets Manager ------------------------------------------------------------------------------


@patch
def secretsmanager_replicas_keep_their_kms_key() -> None:
    """AWS Secrets Manager encrypts each replica with the KmsKeyId given for its region."""
    from moto.secretsmanager.models import FakeSecret

    create_replicas = FakeSecret.create_replicas

    def wrapper(self: Any, replica_regions: list[dict[str, str]], force_overwrite: bool) -> Any:
        replicas = create_replicas(self, replica_regions, force_overwrite)
        for replica, config in zip(replicas, replica_regions or [], strict=False):
            if config.get("KmsKeyId"):
                replica.config["KmsKeyId"] = config["KmsKeyId"]
        return replicas

    _install(FakeSecret, "create_replicas", wrapper)


# --- EC2 ------------------------------------------------------------------------------------------


@patch
def ec2_security_group_rule_keeps_the_description_of_a_referenced_group_rule() -> None:
    """AWS EC2 returns the Description of a rule that references a security group, as for CIDR rules."""
    from moto.ec2.models.security_groups import SecurityGroupRule

    def description(self: Any) -> Any:
        return self.ip_range.get("Description") or self.source_group.get("Description")

    _install(SecurityGroupRule, "description", property(description))


@patch
def ec2_security_group_rule_keeps_the_description_of_a_prefix_list_rule() -> None:
    """AWS EC2 returns the Description of a rule to a prefix list (the tasks' HTTPS to S3's
    gateway endpoint), as for CIDR rules; moto keeps only the prefix list's id."""
    from moto.ec2.models.security_groups import SecurityGroupRule

    init = SecurityGroupRule.__init__
    earlier: Any = vars(SecurityGroupRule)["description"]  # a property (moto's, or the patch above)

    def wrapped_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        # (backend, protocol, group, from, to, ip_range, source_group, prefix_list_id, ...)
        prefix = kwargs["prefix_list_id"] if "prefix_list_id" in kwargs else (args[7] if len(args) > 7 else None)
        self.prefix_list_description = (prefix or {}).get("Description")

    def description(self: Any) -> Any:
        return earlier.fget(self) or getattr(self, "prefix_list_description", None)

    _install(SecurityGroupRule, "__init__", wrapped_init)
    _install(SecurityGroupRule, "description", property(description))


# --- Lambda ---------------------------------------------------------------------------------------


@patch
def lambda_function_keeps_its_logging_config() -> None:
    """AWS Lambda stores LoggingConfig (default: Text format, log group /aws/lambda/<name>) and returns it."""
    from moto.awslambda.models import LambdaFunction

    init = LambdaFunction.__init__
    get_configuration = LambdaFunction.get_configuration
    update_configuration = LambdaFunction.update_configuration

    def wrapped_init(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        init(self, account_id, spec, *args, **kwargs)
        default = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{spec['FunctionName']}"}
        self.logging_config = {**default, **spec.get("LoggingConfig", {})}

    def wrapped_get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config: dict[str, Any] = get_configuration(self, *args, **kwargs)
        config["LoggingConfig"] = self.logging_config
        return config

    def wrapped_update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        self.logging_config = {**self.logging_config, **config_updates.get("LoggingConfig", {})}
        result: dict[str, Any] = update_configuration(self, config_updates)
        return result

    _install(LambdaFunction, "__init__", wrapped_init)
    _install(LambdaFunction, "get_configuration", wrapped_get_configuration)
    _install(LambdaFunction, "update_configuration", wrapped_update_configuration)


# --- CodeStar Notifications (no moto backend) --------------------------------------------------


@patch
def codestar_notifications_keeps_notification_rules() -> None:
    """AWS CodeStar Notifications creates, describes, updates, tags and deletes notification rules (REST-JSON)."""
    import os

    from werkzeug.wrappers import Response

    rules: dict[str, dict[str, Any]] = {}

    def handle(request: Any, region: str) -> Response:
        body: dict[str, Any] = request.get_json(force=True, silent=True) or {}
        operation = request.path.strip("/").split("/")[0]
        arn = body.get("Arn") or (request.path.split("/", 2)[2] if operation == "untagResource" else None)
        if operation == "createNotificationRule":
            account = os.environ["MOTO_ACCOUNT_ID"]
            arn = f"arn:aws:codestar-notifications:{region}:{account}:notificationrule/{uuid.uuid4().hex}"
            rules[arn] = {
                "Arn": arn,
                "CreatedTimestamp": time.time(),
                "Status": "ENABLED",
                "Tags": {},
                "EventTypes": [],
            }
        if operation in ("listTargets", "deleteTarget", "listNotificationRules"):
            return Response(json.dumps({"Targets": [], "NotificationRules": []}), content_type="application/json")
        rule = rules.get(str(arn))
        if rule is None:
            error = {"Message": f"Notification rule {arn} does not exist"}
            headers = {"x-amzn-ErrorType": "ResourceNotFoundException"}
            return Response(json.dumps(error), status=404, headers=headers, content_type="application/json")
        if operation in ("createNotificationRule", "updateNotificationRule"):
            for key in ("Name", "Resource", "DetailType", "Status"):
                rule[key] = body.get(key, rule.get(key))
            if "EventTypeIds" in body:
                rule["EventTypes"] = [{"EventTypeId": event} for event in body["EventTypeIds"]]
            if "Targets" in body:
                rule["Targets"] = [{**target, "TargetStatus": "ACTIVE"} for target in body["Targets"]]
            rule["Tags"].update(body.get("Tags") or {})
            rule["LastModifiedTimestamp"] = time.time()
        elif operation == "tagResource":
            rule["Tags"].update(body.get("Tags") or {})
        elif operation == "untagResource":
            for key in request.args.getlist("tagKeys") + body.get("TagKeys", []):
                rule["Tags"].pop(key, None)
        elif operation == "deleteNotificationRule":
            rules.pop(rule["Arn"])
        answer = rule if operation == "describeNotificationRule" else {"Arn": rule["Arn"], "Tags": rule["Tags"]}
        return Response(json.dumps(answer), content_type="application/json")

    _intercept("codestar-notifications", handle)


# --- AWS Backup -----------------------------------------------------------------------------------


@patch
def backup_plans_have_resource_selections() -> None:
    """AWS Backup creates, gets and deletes a plan's resource selections (REST-JSON)."""
    selections: dict[str, dict[str, Any]] = {}

    def handle(request: Any, region: str) -> Any | None:
        parts = request.path.strip("/").split("/")  # backup/plans/<plan>/selections[/<selection>]
        if len(parts) < 4 or parts[:2] != ["backup", "plans"] or parts[3] != "selections":
            return None
        plan = parts[2]
        if request.method == "PUT":
            body = request.get_json(force=True, silent=True) or {}
            selection_id = str(uuid.uuid4())
            selections[selection_id] = {
                "BackupPlanId": plan,
                "SelectionId": selection_id,
                "BackupSelection": body.get("BackupSelection", {}),
                "CreationDate": time.time(),
                "CreatorRequestId": body.get("CreatorRequestId"),
            }
            return _json({"BackupPlanId": plan, "SelectionId": selection_id, "CreationDate": time.time()})
        if len(parts) == 4:  # list
            listed = [
                {
                    "SelectionId": k,
                    "BackupPlanId": v["BackupPlanId"],
                    "SelectionName": v["BackupSelection"].get("SelectionName"),
                }
                for k, v in selections.items()
                if v["BackupPlanId"] == plan
            ]
            return _json({"BackupSelectionsList": listed})
        selection = selections.get(parts[4])
        if selection is None:
            return _json({"Message": f"selection {parts[4]} not found"}, 404, "ResourceNotFoundException")
        if request.method == "DELETE":
            selections.pop(parts[4])
            return _json({})
        return _json(selection)

    _intercept("backup", handle)


@patch
def backup_list_tags_takes_the_arn_with_or_without_a_trailing_slash() -> None:
    """AWS Backup's ListTags (GET /tags/{arn}/) answers whether or not the SDK sends the trailing slash
    (moto read the segment before it, which the Go SDK's request makes "tags")."""
    from urllib.parse import unquote

    from moto.backup.responses import BackupResponse

    def list_tags(self: Any) -> str:
        resource_arn = unquote(self.path.rstrip("/").rsplit("/", 1)[-1])
        return json.dumps({"Tags": self.backup_backend.list_tags(resource_arn=resource_arn)})

    _install(BackupResponse, "list_tags", list_tags)


# --- ECR ------------------------------------------------------------------------------------------


@patch
def ecr_manages_repository_creation_templates() -> None:
    """AWS ECR creates, describes, updates and deletes repository creation templates (JSON 1.1)."""
    import os

    templates: dict[str, dict[str, Any]] = {}
    fields = (
        "prefix", "description", "encryptionConfiguration", "resourceTags", "imageTagMutability",
        "imageTagMutabilityExclusionFilters", "repositoryPolicy", "lifecyclePolicy", "appliedFor", "customRoleArn",
    )  # fmt: skip

    def handle(request: Any, region: str) -> Any | None:
        operation = request.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
        if "RepositoryCreationTemplate" not in operation:
            return None
        body = request.get_json(force=True, silent=True) or {}
        registry = {"registryId": os.environ["MOTO_ACCOUNT_ID"]}
        if operation == "DescribeRepositoryCreationTemplates":
            wanted = body.get("prefixes") or list(templates)
            return _json({**registry, "repositoryCreationTemplates": [templates[p] for p in wanted if p in templates]})
        prefix = body.get("prefix", "")
        if operation in ("CreateRepositoryCreationTemplate", "UpdateRepositoryCreationTemplate"):
            now = time.time()
            template = templates.setdefault(prefix, {"createdAt": now})
            template.update({k: body[k] for k in fields if k in body}, updatedAt=now)
            return _json({**registry, "repositoryCreationTemplate": template})
        if prefix not in templates:
            return _json({"message": f"template {prefix} not found"}, 400, "TemplateNotFoundException")
        return _json({**registry, "repositoryCreationTemplate": templates.pop(prefix)})

    _intercept("ecr", handle)


# --- ECS ------------------------------------------------------------------------------------------


@patch
def ecs_service_keeps_its_creation_settings() -> None:
    """AWS ECS stores a service's availabilityZoneRebalancing, healthCheckGracePeriodSeconds, enableECSManagedTags."""
    from moto.ecs.responses import EC2ContainerServiceResponse

    create_service = EC2ContainerServiceResponse.create_service

    def wrapper(self: Any) -> Any:
        result = create_service(self)
        payload: Any = result.result
        service = payload["service"]
        if service:
            service.availability_zone_rebalancing = self._get_param("availabilityZoneRebalancing") or "DISABLED"
            service.health_check_grace_period_seconds = self._get_param("healthCheckGracePeriodSeconds")
            service.enable_ecs_managed_tags = bool(self._get_param("enableECSManagedTags"))
            service.enable_execute_command = bool(self._get_param("enableExecuteCommand"))
        return result

    _install(EC2ContainerServiceResponse, "create_service", wrapper)


@patch
def ecs_service_with_a_capacity_provider_strategy_has_no_launch_type() -> None:
    """AWS ECS keeps a service's capacityProviderStrategy and reports no launchType for it (not EC2)."""
    from moto.ecs.responses import EC2ContainerServiceResponse

    create_service = EC2ContainerServiceResponse.create_service

    def wrapper(self: Any) -> Any:
        result = create_service(self)
        strategy = self._get_param("capacityProviderStrategy")
        payload: Any = result.result
        if strategy:
            payload["service"].capacity_provider_strategy = strategy
            payload["service"].launch_type = None
        return result

    _install(EC2ContainerServiceResponse, "create_service", wrapper)


# --- Application Auto Scaling ---------------------------------------------------------------------


@patch
def application_autoscaling_tags_scalable_targets() -> None:
    """AWS Application Auto Scaling stores tags on scalable targets (RegisterScalableTarget Tags, TagResource, ...)."""
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

    tags: dict[str, dict[str, str]] = {}
    register_scalable_target = ApplicationAutoScalingResponse.register_scalable_target

    def register(self: Any) -> str:
        result = register_scalable_target(self)
        tags.setdefault(json.loads(result)["ScalableTargetARN"], {}).update(self._get_param("Tags") or {})
        return result

    def list_tags_for_resource(self: Any) -> str:
        return json.dumps({"Tags": tags.get(self._get_param("ResourceARN"), {})})

    def tag_resource(self: Any) -> str:
        tags.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags") or {})
        return "{}"

    def untag_resource(self: Any) -> str:
        for key in self._get_param("TagKeys") or []:
            tags.get(self._get_param("ResourceARN"), {}).pop(key, None)
        return "{}"

    _install(ApplicationAutoScalingResponse, "register_scalable_target", register)
    _install(ApplicationAutoScalingResponse, "list_tags_for_resource", list_tags_for_resource)
    _install(ApplicationAutoScalingResponse, "tag_resource", tag_resource)
    _install(ApplicationAutoScalingResponse, "untag_resource", untag_resource)


# --- Refusals: where moto accepts a call that AWS refuses and the product depends on the refusal ---
#
# An emulator that accepts a faulty order proves nothing about it. Each patch below refuses, with
# the error code and message the hashicorp/aws provider sees from AWS, a call made before its
# prerequisite exists; the right order still passes (tests/test_emulator_strictness.py).


@patch
def logs_metric_filter_needs_its_log_group() -> None:
    """AWS CloudWatch Logs refuses PutMetricFilter for a log group that does not exist (ResourceNotFoundException)."""
    # https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutMetricFilter.html
    from moto.logs.exceptions import ResourceNotFoundException
    from moto.logs.models import LogsBackend

    put_metric_filter = LogsBackend.put_metric_filter

    def wrapper(self: Any, filter_name: str, filter_pattern: str, log_group_name: str, transformations: Any) -> None:
        if log_group_name not in self.groups:
            raise ResourceNotFoundException("The specified log group does not exist.")
        put_metric_filter(self, filter_name, filter_pattern, log_group_name, transformations)

    _install(LogsBackend, "put_metric_filter", wrapper)


def _role_documents(role_arn: str) -> list[str] | None:
    """The policy documents of an IAM role in the emulator (inline, then each attached managed
    policy's default version); None when no such role exists (moto's own check then answers)."""
    from moto.iam.models import iam_backends

    parts = role_arn.split(":")
    if len(parts) < 6 or parts[2] != "iam":
        return None
    role = next((r for r in iam_backends[parts[4]][parts[1]].get_roles() if r.arn == role_arn), None)
    if role is None:
        return None
    documents = [str(document) for document in role.policies.values()]
    for policy in role.managed_policies.values():
        documents += [str(v.document) for v in policy.versions if v.version_id == policy.default_version_id]
    return documents


def _first_denied(role_arn: str, actions: list[str], resource: Callable[[str], str] | None = None) -> str | None:
    """The first of ``actions`` that no Allow statement of the role's policies grants (on
    ``resource(action)``, when given), or None; the evaluator is the project's own (aws_rules.iam)."""
    from aws_rules.iam import allows

    documents = _role_documents(role_arn)
    if documents is None:
        return None
    for action in actions:
        if not any(allows(document, action, resource(action) if resource else None) for document in documents):
            return action
    return None


#: What a function's execution role must allow for Lambda to attach it to a VPC, and to trace it.
LAMBDA_VPC_ACTIONS = ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface"]
LAMBDA_TRACING_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]


@patch
def lambda_vpc_and_tracing_need_the_execution_roles_permissions() -> None:
    """AWS Lambda refuses CreateFunction and UpdateFunctionConfiguration when the execution role cannot
    manage network interfaces (VpcConfig with subnets) or send traces (TracingConfig Active)."""
    # https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#configuration-vpc-permissions
    # https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html#services-xray-permissions
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.awslambda.models import LambdaBackend

    create_function = LambdaBackend.create_function
    update_function_configuration = LambdaBackend.update_function_configuration

    def check(region: str, role: str, vpc_config: dict[str, Any] | None, tracing_config: dict[str, Any] | None) -> None:
        needs = [
            *(LAMBDA_VPC_ACTIONS if (vpc_config or {}).get("SubnetIds") else []),
            *(LAMBDA_TRACING_ACTIONS if (tracing_config or {}).get("Mode") == "Active" else []),
        ]
        parts = role.split(":")
        # Lambda's check asks for the account's interfaces (network-interface/*), not for "*".
        interfaces = f"arn:{parts[1]}:ec2:{region}:{parts[4]}:network-interface/*" if len(parts) > 4 else "*"

        def resource(action: str) -> str:
            return interfaces if action in ("ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface") else "*"

        denied = _first_denied(role, needs, resource) if role else None
        if denied:
            service, operation = denied.split(":")
            raise InvalidParameterValueException(
                f"The provided execution role does not have permissions to call {operation} on {service.upper()}"
            )

    def create(self: Any, spec: dict[str, Any]) -> Any:
        check(self.region_name, spec.get("Role", ""), spec.get("VpcConfig"), spec.get("TracingConfig"))
        return create_function(self, spec)

    def update(self: Any, function_name: str, qualifier: str, body: dict[str, Any]) -> Any:
        function = self.get_function(function_name, qualifier)
        check(
            self.region_name,
            body.get("Role") or function.role,
            body.get("VpcConfig", function._vpc_config),
            body.get("TracingConfig") or function.tracing_config,
        )
        return update_function_configuration(self, function_name, qualifier, body)

    _install(LambdaBackend, "create_function", create)
    _install(LambdaBackend, "update_function_configuration", update)


def _admits(policy: str, principals: set[str], action: str, resource: str) -> bool:
    """Whether a resource policy lets one of ``principals`` (or everyone) perform ``action`` on ``resource``."""
    from aws_rules import iam

    admitted = [s for s in iam.statements(policy) if iam.principals(s) & (principals | {"*"})]
    return iam.allows({"Statement": admitted}, action, resource)


@patch
def elb_access_logs_need_a_bucket_that_admits_log_delivery() -> None:
    """AWS Elastic Load Balancing test-writes to the bucket when access logs are turned on and refuses
    (InvalidConfigurationRequest) unless its policy lets the region's ELB account or the log
    delivery service put objects under the log prefix."""
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html
    from moto.elbv2.exceptions import InvalidConfigurationRequest
    from moto.elbv2.models import ELBv2Backend
    from moto.s3.models import s3_backends

    from modules.access_logs import ELB_LOG_ACCOUNTS

    modify = ELBv2Backend.modify_load_balancer_attributes

    def wrapper(self: Any, arn: str, attrs: dict[str, Any]) -> dict[str, Any]:
        balancer = self.load_balancers.get(arn)
        current = {**(balancer.attrs if balancer else {}), **attrs}
        if balancer is not None and str(current.get("access_logs.s3.enabled")).lower() == "true":
            name = str(current.get("access_logs.s3.bucket") or "")
            prefix = str(current.get("access_logs.s3.prefix") or "")
            test_file = (f"{prefix}/" if prefix else "") + f"AWSLogs/{self.account_id}/ELBAccessLogTestFile"
            bucket = s3_backends[self.account_id][self.partition].buckets.get(name)
            elb_account = ELB_LOG_ACCOUNTS.get(self.region_name)
            delivery = {"logdelivery.elasticloadbalancing.amazonaws.com"}
            if elb_account:
                delivery |= {elb_account, f"arn:{self.partition}:iam::{elb_account}:root"}
            policy = bucket.policy.decode() if bucket is not None and bucket.policy else None
            resource = f"arn:{self.partition}:s3:::{name}/{test_file}"
            if policy is None or not _admits(policy, delivery, "s3:PutObject", resource):
                raise InvalidConfigurationRequest(f"Access Denied for bucket: {name}. Please check S3bucket permission")
        result: dict[str, Any] = modify(self, arn, attrs)
        return result

    _install(ELBv2Backend, "modify_load_balancer_attributes", wrapper)


def _forwarded_target_groups(account_id: str, region: str) -> set[str]:
    """The target groups a listener's default action or a listener rule forwards to, in the emulator."""
    from moto.elbv2.models import elbv2_backends

    backend = elbv2_backends[account_id][region]
    return {
        arn
        for balancer in backend.load_balancers.values()
        for listener in balancer.listeners.values()
        for rule in listener.rules.values()
        for action in rule.actions
        if action.type == "forward"
        for arn in backend._get_target_group_arns_from(action_data=action.data)
    }


@patch
def ecs_service_target_groups_need_a_load_balancer() -> None:
    """AWS ECS refuses CreateService with a target group that no listener or listener rule forwards to
    (InvalidParameterException: the target group does not have an associated load balancer)."""
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/register-multiple-targetgroups.html
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html (loadBalancers)
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.responses import EC2ContainerServiceResponse

    create_service = EC2ContainerServiceResponse.create_service

    def wrapper(self: Any) -> Any:
        forwarded = _forwarded_target_groups(self.current_account, self.region)
        for balancer in self._get_param("loadBalancers") or []:
            alternate = (balancer.get("advancedConfiguration") or {}).get("alternateTargetGroupArn")
            for group in filter(None, [balancer.get("targetGroupArn"), alternate]):
                if group not in forwarded:
                    raise InvalidParameterException(
                        f"The target group with targetGroupArn {group} does not have an associated load balancer."
                    )
        return create_service(self)

    _install(EC2ContainerServiceResponse, "create_service", wrapper)


@patch
def ecs_capacity_provider_strategy_names_only_the_clusters_providers() -> None:
    """AWS ECS refuses CreateService and UpdateService whose capacityProviderStrategy names a provider
    (FARGATE and FARGATE_SPOT included) not associated with the cluster (PutClusterCapacityProviders)."""
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CapacityProviderStrategyItem.html
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.responses import EC2ContainerServiceResponse

    create_service = EC2ContainerServiceResponse.create_service
    update_service = EC2ContainerServiceResponse.update_service

    def check(self: Any) -> None:
        strategy = self._get_param("capacityProviderStrategy") or []
        cluster = self.ecs_backend._get_cluster(self._get_param("cluster", "default"))
        associated = {name.rsplit("/", 1)[-1] for name in cluster.capacity_providers or []}
        if any(item["capacityProvider"].rsplit("/", 1)[-1] not in associated for item in strategy):
            raise InvalidParameterException(
                "The specified capacity provider strategy cannot contain a capacity provider that is not associated"
                " with the cluster. Associate the capacity provider with the cluster or specify a valid capacity"
                " provider and try again."
            )

    def create(self: Any) -> Any:
        check(self)
        return create_service(self)

    def update(self: Any) -> Any:
        check(self)
        return update_service(self)

    _install(EC2ContainerServiceResponse, "create_service", create)
    _install(EC2ContainerServiceResponse, "update_service", update)


#: What AmazonRDSEnhancedMonitoringRole grants, on the log group RDS sends OS metrics to.
RDS_MONITORING_ACTIONS = [
    "logs:CreateLogGroup", "logs:PutRetentionPolicy",
    "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:GetLogEvents",
]  # fmt: skip


@patch
def rds_enhanced_monitoring_needs_a_role_that_can_write_os_metrics() -> None:
    """AWS RDS refuses CreateDBInstance with MonitoringInterval > 0 when the MonitoringRoleArn's role lacks
    AmazonRDSEnhancedMonitoringRole (or an inline policy granting the same) (InvalidParameterValue)."""
    # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Monitoring.OS.Enabling.html
    from moto.rds.exceptions import InvalidParameterValue
    from moto.rds.models import RDSBackend

    create_db_instance = RDSBackend.create_db_instance

    def wrapper(self: Any, db_kwargs: dict[str, Any]) -> Any:
        role = db_kwargs.get("monitoring_role_arn")
        if int(db_kwargs.get("monitoring_interval") or 0) > 0 and role:
            group = f"arn:{self.partition}:logs:{self.region_name}:{self.account_id}:log-group:RDSOSMetrics"

            def on(action: str) -> str:
                return group if action in RDS_MONITORING_ACTIONS[:2] else f"{group}:log-stream:db-STRICT"

            if _role_documents(role) is None or _first_denied(role, RDS_MONITORING_ACTIONS, on):
                raise InvalidParameterValue(
                    "IAM role ARN value is invalid or does not include the required permissions for: "
                    "ENHANCED_MONITORING"
                )
        return create_db_instance(self, db_kwargs)

    _install(RDSBackend, "create_db_instance", wrapper)


@patch
def rds_global_database_secondary_waits_for_the_primarys_instance() -> None:
    """AWS RDS refuses CreateDBCluster adding a secondary to a global database whose primary cluster has no
    available DB instance yet (AWS's own Terraform example makes the secondary depend on it)."""
    # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-getting-started.html
    # https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/rds_global_cluster
    from moto.rds.exceptions import InvalidDBClusterStateFault
    from moto.rds.models import RDSBackend, rds_backends

    create_db_cluster = RDSBackend.create_db_cluster

    def wrapper(self: Any, kwargs: dict[str, Any]) -> Any:
        identifier = kwargs.get("global_cluster_identifier")
        if identifier:
            found = [
                global_cluster
                for backend in list(rds_backends[self.account_id].values())
                for global_cluster in backend.global_clusters.values()
                if identifier in (global_cluster.global_cluster_identifier, global_cluster.global_cluster_arn)
            ]
            members = found[0].members if found else []
            primary = next((m for m in members if m.is_writer), members[0] if members else None)
            if primary is not None and not any(instance.status == "available" for instance in primary.members):
                raise InvalidDBClusterStateFault(
                    f"The primary cluster of global cluster {identifier} has no available instance; "
                    "add a secondary once the primary is available"
                )
        return create_db_cluster(self, kwargs)

    _install(RDSBackend, "create_db_cluster", wrapper)


#: What a CodeBuild project's service role must allow for builds in a VPC (CodeBuild checks at CreateProject).
CODEBUILD_VPC_ACTIONS = [
    "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
]  # fmt: skip


@patch
def codebuild_vpc_project_needs_a_role_that_can_use_the_vpc() -> None:
    """AWS CodeBuild refuses CreateProject with a vpcConfig when the service role cannot describe the VPC
    and manage network interfaces (InvalidInputException: Not authorized to perform ...)."""
    # https://docs.aws.amazon.com/codebuild/latest/userguide/auth-and-access-control-iam-identity-based-access-control.html#customer-managed-policies-example-create-vpc-network-interface
    # https://docs.aws.amazon.com/codebuild/latest/userguide/vpc-support.html
    from moto.codebuild.exceptions import InvalidInputException
    from moto.codebuild.responses import CodeBuildResponse

    create_project = CodeBuildResponse.create_project

    def wrapper(self: Any) -> Any:
        vpc_config = self._get_param("vpcConfig") or {}
        role = self._get_param("serviceRole") or ""
        denied = _first_denied(role, CODEBUILD_VPC_ACTIONS) if vpc_config.get("vpcId") else None
        if denied:
            raise InvalidInputException(f"Not authorized to perform {denied.split(':')[1]}")
        return create_project(self)

    _install(CodeBuildResponse, "create_project", wrapper)
