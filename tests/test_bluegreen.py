"""What AWS requires of a CodeDeploy blue/green ECS deployment, checked on every environment's JSON.

Each test names one requirement of CodeDeploy's (or ECS's own) blue/green deployments: its name
says what must hold, its body shows where the synthesized JSON makes it hold.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from modules import deploy_specs
from tests.conftest import ROOT, SynthesizedStack, as_list, every_service, policy


def test_service_is_fargate_and_controlled_by_codedeploy(codedeploy_stack: SynthesizedStack) -> None:
    service = codedeploy_stack.service().one("aws_ecs_service").body
    assert service["deployment_controller"] == {"type": "CODE_DEPLOY"}
    assert {s["capacity_provider"] for s in service["capacity_provider_strategy"]} <= {"FARGATE", "FARGATE_SPOT"}
    assert service["desired_count"] == codedeploy_stack.spec.desired_count


def test_codedeploy_owned_service_fields_are_ignored_by_terraform(stack: SynthesizedStack) -> None:
    ignored = stack.service().one("aws_ecs_service").body["lifecycle"]["ignore_changes"]
    assert {"task_definition", "load_balancer"} <= set(ignored)


def test_listeners_default_actions_are_ignored_because_codedeploy_swaps_them(stack: SynthesizedStack) -> None:
    for path in ("load_balancer/prod_listener", "load_balancer/test_listener"):
        assert stack.one("aws_lb_listener", path).body["lifecycle"]["ignore_changes"] == ["default_action"]


def test_prod_listener_starts_on_blue_and_test_listener_on_green(stack: SynthesizedStack) -> None:
    blue = stack.service().one("aws_lb_target_group", "route/blue")
    green = stack.service().one("aws_lb_target_group", "route/green")
    prod_listener = stack.one("aws_lb_listener", "load_balancer/prod_listener")
    test_listener = stack.one("aws_lb_listener", "load_balancer/test_listener")
    prod, test = prod_listener.body, test_listener.body
    route = stack.spec.route
    assert route is not None
    if route.is_default:
        assert prod["default_action"][0]["target_group_arn"] == blue.ref("arn")
        assert test["default_action"][0]["target_group_arn"] == green.ref("arn")
    else:
        # A service routed by host or path: its rule on each listener, forwarding the same way.
        for rule, listener, colour in (("prod_rule", prod_listener, blue), ("test_rule", test_listener, green)):
            body = stack.service().one("aws_lb_listener_rule", f"route/{rule}").body
            assert body["listener_arn"] == listener.ref("arn")
            assert body["action"][0]["target_group_arn"] == colour.ref("arn")
    assert prod["port"] == stack.config.load_balancer.effective_prod_port
    assert test["port"] == stack.config.load_balancer.test_listener_port != prod["port"]
    service = stack.service().one("aws_ecs_service").body
    assert service["load_balancer"][0]["target_group_arn"] == blue.ref("arn")


def test_target_groups_register_fargate_tasks_by_ip_and_probe_readiness(stack: SynthesizedStack) -> None:
    lb = stack.config.load_balancer
    for colour in ("blue", "green"):
        group = stack.service().one("aws_lb_target_group", f"route/{colour}").body
        assert group["target_type"] == "ip"
        assert group["port"] == stack.spec.container_port
        assert group["health_check"]["path"] == stack.spec.health_check_path
        assert group["health_check"]["interval"] == lb.health_check_interval_seconds
        assert group["deregistration_delay"] == str(lb.deregistration_delay_seconds)
        assert len(group["name"]) <= 32


def test_https_listeners_and_http_redirect_when_a_certificate_is_configured(stack: SynthesizedStack) -> None:
    assert stack.config.load_balancer.certificate_arn  # every shipped environment has one
    for path in ("load_balancer/prod_listener", "load_balancer/test_listener"):
        listener = stack.one("aws_lb_listener", path).body
        assert listener["protocol"] == "HTTPS"
        assert listener["certificate_arn"] == stack.config.load_balancer.certificate_arn
        assert listener["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")
    redirect = stack.one("aws_lb_listener", "load_balancer/http_redirect").body
    assert redirect["port"] == 80
    assert redirect["default_action"] == [
        {"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"}}
    ]


def test_deployment_group_is_ecs_blue_green_with_traffic_control(codedeploy_stack: SynthesizedStack) -> None:
    app = codedeploy_stack.service().one("aws_codedeploy_app").body
    group = codedeploy_stack.service().one("aws_codedeploy_deployment_group").body
    assert app["compute_platform"] == "ECS"
    assert group["deployment_style"] == {"deployment_type": "BLUE_GREEN", "deployment_option": "WITH_TRAFFIC_CONTROL"}
    assert group["deployment_config_name"] in {
        "CodeDeployDefault.ECSAllAtOnce",
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
    } or group["deployment_config_name"] == codedeploy_stack.service().one("aws_codedeploy_deployment_config").ref(
        "deployment_config_name"
    )
    assert group["ecs_service"]["service_name"] == codedeploy_stack.service().one("aws_ecs_service").ref("name")


def test_deployment_group_names_both_target_groups_and_both_listeners(codedeploy_stack: SynthesizedStack) -> None:
    pair = (
        codedeploy_stack.service()
        .one("aws_codedeploy_deployment_group")
        .body["load_balancer_info"]["target_group_pair_info"]
    )
    assert [t["name"] for t in pair["target_group"]] == [
        codedeploy_stack.service().one("aws_lb_target_group", "route/blue").ref("name"),
        codedeploy_stack.service().one("aws_lb_target_group", "route/green").ref("name"),
    ]
    assert pair["prod_traffic_route"]["listener_arns"] == [
        codedeploy_stack.one("aws_lb_listener", "load_balancer/prod_listener").ref("arn")
    ]
    assert pair["test_traffic_route"]["listener_arns"] == [
        codedeploy_stack.one("aws_lb_listener", "load_balancer/test_listener").ref("arn")
    ]


def test_blue_is_terminated_after_the_configured_wait(codedeploy_stack: SynthesizedStack) -> None:
    config = codedeploy_stack.service().one("aws_codedeploy_deployment_group").body["blue_green_deployment_config"]
    assert config["terminate_blue_instances_on_deployment_success"] == {
        "action": "TERMINATE",
        "termination_wait_time_in_minutes": codedeploy_stack.spec.deployment.termination_wait_minutes,
    }


def test_rollback_is_automatic_on_failure_and_on_alarm(codedeploy_stack: SynthesizedStack) -> None:
    group = codedeploy_stack.service().one("aws_codedeploy_deployment_group").body
    assert group["auto_rollback_configuration"] == {
        "enabled": True,
        "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
    }
    release = [
        a
        for a in codedeploy_stack.service().of_type("aws_cloudwatch_metric_alarm")
        if a.path.split("/")[-2] == "alarms"
    ]
    assert group["alarm_configuration"]["enabled"] is True
    assert sorted(group["alarm_configuration"]["alarms"]) == sorted(a.ref("alarm_name") for a in release)
    app = codedeploy_stack.service().one("aws_cloudwatch_metric_alarm", "app_errors/app_5xx").ref("alarm_name")
    assert app not in group["alarm_configuration"]["alarms"], "the app's count cannot tell green from blue"


def test_release_alarms_judge_green_alone(stack: SynthesizedStack) -> None:
    """Every metric a rollback alarm reads is green's (the first green is the green target group;
    the release-alarms hook moves them on each deployment), never blue's and never the whole ALB."""
    green = stack.service().one("aws_lb_target_group", "route/green").ref("arn_suffix")
    alb = stack.one("aws_lb").ref("arn_suffix")
    release = [a for a in stack.service().of_type("aws_cloudwatch_metric_alarm") if a.path.split("/")[-2] == "alarms"]
    assert len(release) == 3
    for alarm in release:
        metrics = [q["metric"] for q in alarm.body["metric_query"] if "metric" in q]
        assert metrics and all(m["dimensions"] == {"LoadBalancer": alb, "TargetGroup": green} for m in metrics)
        (verdict,) = [q for q in alarm.body["metric_query"] if q.get("return_data")]
        assert "expression" in verdict
        assert alarm.body["lifecycle"]["ignore_changes"] == ["metric_query"], "the hook owns the dimension"


def test_pipeline_is_source_then_build_then_codedeploy_to_ecs(codedeploy_stack: SynthesizedStack) -> None:
    pipeline = codedeploy_stack.service().one("aws_codepipeline").body
    stages = [(s["name"], [a["provider"] for a in s["action"]]) for s in pipeline["stage"] if s["name"] != "Approve"]
    assert stages == [
        ("Source", ["CodeStarSourceConnection"]),
        ("Build", ["CodeBuild"]),
        ("Migrate", ["CodeBuild"]),
        ("Deploy", ["CodeDeployToECS"]),
    ]
    source = pipeline["stage"][0]["action"][0]["configuration"]
    assert source["FullRepositoryId"] == codedeploy_stack.spec.source.repository
    assert source["BranchName"] == codedeploy_stack.spec.source.branch
    assert source["ConnectionArn"] == codedeploy_stack.one("aws_codeconnections_connection").ref("arn")


def test_deploy_action_reads_taskdef_appspec_and_image_from_the_build(codedeploy_stack: SynthesizedStack) -> None:
    deploy = codedeploy_stack.service().one("aws_codepipeline").body["stage"][-1]["action"][0]
    build = codedeploy_stack.service().one("aws_codepipeline").body["stage"][1]["action"][0]
    config = deploy["configuration"]
    assert deploy["input_artifacts"] == build["output_artifacts"]
    artifact = build["output_artifacts"][0]
    assert config["TaskDefinitionTemplateArtifact"] == config["AppSpecTemplateArtifact"] == artifact
    assert config["TaskDefinitionTemplatePath"] == "taskdef.json"
    assert config["AppSpecTemplatePath"] == "appspec.yaml"
    assert config["Image1ArtifactName"] == artifact
    assert config["Image1ContainerName"] == "IMAGE1_NAME"
    assert config["ApplicationName"] == codedeploy_stack.service().one("aws_codedeploy_app").ref("name")


def build_environment(stack: SynthesizedStack) -> dict[str, str]:
    project = stack.service().one("aws_codebuild_project", "codepipeline/build").body
    return {v["name"]: v["value"] for v in project["environment"]["environment_variable"]}


def test_buildspec_is_yaml_that_emits_the_files_both_controllers_need(stack: SynthesizedStack) -> None:
    project = stack.service().one("aws_codebuild_project", "codepipeline/build").body
    text = project["source"]["buildspec"]
    assert "${" not in text.replace("$${", ""), "unescaped ${ would be a Terraform interpolation"
    spec = yaml.safe_load(text.replace("$${", "${"))
    assert spec["artifacts"]["files"] == ["imageDetail.json", "taskdef.json", "appspec.yaml"]
    commands = " ".join(c for phase in spec["phases"].values() for c in phase["commands"])
    assert "docker push" in commands and "imageDetail.json" in commands
    assert '--password-stdin "${REPOSITORY_URI%%/*}"' in commands
    assert project["environment"]["privileged_mode"] is True
    assert build_environment(stack)["REPOSITORY_URI"] == stack.service().one("aws_ecr_repository").ref("repository_url")


def test_taskdef_template_has_the_image_placeholder_and_matches_the_live_task(stack: SynthesizedStack) -> None:
    template = json.loads(build_environment(stack)["TASKDEF_TEMPLATE"])
    task = stack.service().one("aws_ecs_task_definition")
    live = task.body
    (container,) = template["containerDefinitions"]
    assert container["image"] == "<IMAGE1_NAME>"
    (live_container,) = json.loads(live["container_definitions"])
    assert {**live_container, "image": "<IMAGE1_NAME>"} == container
    # The live family, by reference: the build's revisions join the family Terraform created.
    assert template["family"] == task.ref("family")
    assert live["family"] == stack.config.names.service(stack.focused).task_family
    assert live_container["logConfiguration"]["options"]["awslogs-group"] == stack.service().one(
        "aws_cloudwatch_log_group", "ecs/log_group"
    ).ref("name")
    assert (template["cpu"], template["memory"]) == (live["cpu"], live["memory"])
    assert template["executionRoleArn"] == live["execution_role_arn"]
    assert template["taskRoleArn"] == live["task_role_arn"]
    assert template["requiresCompatibilities"] == ["FARGATE"] and template["networkMode"] == "awsvpc"
    # Tags on it would need ecs:TagResource at registration, which the ECS controller's release
    # step is not given (the provider's default tags stay Terraform's).
    assert "tags" not in template


def test_appspec_targets_the_service_container_with_the_task_definition_placeholder(stack: SynthesizedStack) -> None:
    appspec = yaml.safe_load(build_environment(stack)["APPSPEC_YAML"])
    target = appspec["Resources"][0]["TargetService"]
    assert target["Type"] == "AWS::ECS::Service"
    assert target["Properties"]["TaskDefinition"] == "<TASK_DEFINITION>"
    service_lb = stack.service().one("aws_ecs_service").body["load_balancer"][0]
    assert target["Properties"]["LoadBalancerInfo"] == {
        "ContainerName": service_lb["container_name"],
        "ContainerPort": service_lb["container_port"],
    }


def test_every_role_touching_artifacts_can_use_the_artifact_key_by_iam_and_key_policy(stack: SynthesizedStack) -> None:
    artifact_key = stack.one("aws_kms_key", "keys/artifacts_key")
    store = as_list(stack.service().one("aws_codepipeline").body["artifact_store"])[0]
    assert store["encryption_key"] == {"id": artifact_key.ref("arn"), "type": "KMS"}
    assert stack.service().one("aws_codebuild_project", "codepipeline/build").body[
        "encryption_key"
    ] == artifact_key.ref("arn")
    key_principals = {
        arn
        for s in policy(artifact_key.body["policy"])["Statement"]
        if "kms:Decrypt" in as_list(s["Action"])
        for arn in as_list(s["Principal"].get("AWS", []))
    }
    for role in ("codepipeline", "codebuild"):
        assert stack.service().one("aws_iam_role", f"roles/{role}").ref("arn") in key_principals
        granted = policy(stack.service().one("aws_iam_role_policy", f"role_policies/{role}").body["policy"])
        assert any(
            artifact_key.ref("arn") in s["Resource"] and "kms:Decrypt" in s["Action"] for s in granted["Statement"]
        ), f"{role} role cannot decrypt artifacts"


def test_artifact_bucket_is_encrypted_with_the_artifact_key(stack: SynthesizedStack) -> None:
    encryption = stack.service().one(
        "aws_s3_bucket_server_side_encryption_configuration", "codepipeline/artifacts/encryption"
    )
    default = encryption.body["rule"][0]["apply_server_side_encryption_by_default"]
    assert default == {
        "sse_algorithm": "aws:kms",
        "kms_master_key_id": stack.one("aws_kms_key", "keys/artifacts_key").ref("arn"),
    }


def test_traffic_shifting_matches_each_environment(synthesized: dict[str, SynthesizedStack]) -> None:
    configs = {
        env: s.service().one("aws_codedeploy_deployment_group").body["deployment_config_name"]
        for env, s in every_service(synthesized)
        if s.spec.released_by == "codedeploy" and len(s.config.all_services) == 1
    }
    # Predefined configs where the config matches one: no extra resource.
    assert configs["dev"] == "CodeDeployDefault.ECSAllAtOnce"
    assert configs["prod"] == "CodeDeployDefault.ECSCanary10Percent5Minutes"
    assert not synthesized["prod"].of_type("aws_codedeploy_deployment_config")
    # staging shifts 20% every 2 minutes, which no predefined config does: the stack creates it.
    custom = synthesized["staging"].one("aws_codedeploy_deployment_config")
    assert configs["staging"] == custom.ref("deployment_config_name")
    assert custom.body["compute_platform"] == "ECS"
    assert custom.body["traffic_routing_config"] == {
        "type": "TimeBasedLinear",
        "time_based_linear": {"percentage": 20, "interval": 2},
    }


def test_green_waits_for_an_operator_only_where_configured(synthesized: dict[str, SynthesizedStack]) -> None:
    for env, stack in every_service(synthesized):
        if stack.spec.released_by != "codedeploy":
            continue
        ready = stack.service().one("aws_codedeploy_deployment_group").body["blue_green_deployment_config"]
        timeout = stack.spec.deployment.approval_timeout_minutes
        expected = (
            {"action_on_timeout": "CONTINUE_DEPLOYMENT"}
            if timeout is None
            else {"action_on_timeout": "STOP_DEPLOYMENT", "wait_time_in_minutes": timeout}
        )
        assert ready["deployment_ready_option"] == expected, env
    assert synthesized["prod"].config.deployment.approval_timeout_minutes == 60


def test_deploy_spec_constants_are_the_aws_defined_names() -> None:
    assert deploy_specs.IMAGE_PLACEHOLDER == "<IMAGE1_NAME>"
    assert deploy_specs.TASK_DEFINITION_PLACEHOLDER == "<TASK_DEFINITION>"


def test_green_is_tested_through_the_test_listener_before_production_moves(stack: SynthesizedStack) -> None:
    hook = stack.service().one("aws_lambda_function", "deployment_hooks/test_traffic")
    release = stack.service().one("aws_lambda_function", "release_alarms/release_alarms")
    appspec = yaml.safe_load(build_environment(stack)["APPSPEC_YAML"])
    # BeforeInstall runs before the replacement task set exists: the alarms judge green from its first task.
    assert appspec["Hooks"] == [{"BeforeInstall": release.ref("arn")}, {"AfterAllowTestTraffic": hook.ref("arn")}]
    dns = stack.one("aws_lb").ref("dns_name")
    assert (
        hook.body["environment"]["variables"]["TEST_URL"]
        == f"https://{dns}:{stack.config.load_balancer.test_listener_port}"
    )
    assert hook.body["handler"] == "hooks.test_traffic.handler" and hook.body["runtime"].startswith("python3.")


def test_hook_package_is_the_hooks_code_alone(stack: SynthesizedStack) -> None:
    """The handler and the load test it imports, byte for byte; no caches, tests or app code."""
    import zipfile

    hooks = stack.of_type("aws_lambda_function")
    assert len(hooks) >= 2
    for hook in hooks:
        with zipfile.ZipFile(stack.file.parent / hook.body["filename"]) as archive:
            names = sorted(n for n in archive.namelist() if not n.endswith("/"))
            assert names == [
                "hooks/__init__.py",
                "hooks/load_test.py",
                "hooks/release_alarms.py",
                "hooks/test_traffic.py",
            ]
            for name in names:
                assert archive.read(name) == (ROOT / name).read_bytes(), name


def test_hook_runs_privately_and_can_do_exactly_its_job(codedeploy_stack: SynthesizedStack) -> None:
    hook = codedeploy_stack.service().one("aws_lambda_function", "deployment_hooks/test_traffic")
    vpc = hook.body["vpc_config"]
    assert all("networking_private_" in s for s in vpc["subnet_ids"])
    hook_sg = codedeploy_stack.one("aws_security_group", "security_groups/test_hook_sg").ref("id")
    assert vpc["security_group_ids"] == [hook_sg]
    egress = sorted(
        r.body["from_port"]
        for r in codedeploy_stack.of_type("aws_vpc_security_group_egress_rule")
        if r.body["security_group_id"] == hook_sg
    )
    assert egress == sorted([443, codedeploy_stack.config.load_balancer.test_listener_port])
    assert not [
        r
        for r in codedeploy_stack.of_type("aws_vpc_security_group_ingress_rule")
        if r.body["security_group_id"] == hook_sg
    ]
    hook_policy = policy(
        codedeploy_stack.service().one("aws_iam_role_policy", "role_policies/test_hook").body["policy"]
    )
    report = next(s for s in hook_policy["Statement"] if s["Sid"] == "ReportHookResult")
    # The Service Authorization Reference gives this action no resource type: a policy scoped to the
    # deployment group would never match, and every hook would time out (then roll back).
    assert report["Action"] == ["codedeploy:PutLifecycleEventHookExecutionStatus"] and report["Resource"] == ["*"]
    codedeploy = policy(
        codedeploy_stack.service().one("aws_iam_role_policy", "role_policies/codedeploy").body["policy"]
    )
    invoke = next(s for s in codedeploy["Statement"] if s["Sid"] == "RunHooks")
    release = codedeploy_stack.service().one("aws_lambda_function", "release_alarms/release_alarms")
    assert invoke["Action"] == ["lambda:InvokeFunction"]
    assert sorted(invoke["Resource"]) == sorted([hook.ref("arn"), release.ref("arn")])


def test_rollback_alarms_watch_green_rates_latency_health_and_the_apps_own_errors(stack: SynthesizedStack) -> None:
    thresholds = stack.spec.deployment.alarms
    alarms = {a.body["alarm_name"]: a.body for a in stack.service().of_type("aws_cloudwatch_metric_alarm")}
    prefix = stack.config.names.service(stack.focused).prefix
    rate = alarms[f"{prefix}-release-5xx-rate"]
    assert rate["threshold"] == thresholds.target_5xx_percent
    verdict = next(q for q in rate["metric_query"] if q.get("return_data"))["expression"]
    assert f">= {thresholds.min_requests_per_minute}" in verdict
    p99 = alarms[f"{prefix}-release-p99-latency"]
    latency = next(q["metric"] for q in p99["metric_query"] if q["id"] == "latency")
    assert (latency["metric_name"], latency["stat"]) == ("TargetResponseTime", "p99")
    assert p99["threshold"] == thresholds.p99_latency_ms / 1000
    assert alarms[f"{prefix}-release-unhealthy-hosts"]["threshold"] == thresholds.unhealthy_hosts
    metric_filter = stack.service().one("aws_cloudwatch_log_metric_filter").body
    # By reference: PutMetricFilter fails for a log group that does not exist yet.
    assert metric_filter["log_group_name"] == stack.service().one("aws_cloudwatch_log_group", "ecs/log_group").ref(
        "name"
    )
    assert metric_filter["pattern"] == "{ $.status >= 500 }"
    app = alarms[f"{prefix}-app-5xx"]
    transform = metric_filter["metric_transformation"]
    assert (app["namespace"], app["metric_name"]) == (transform["namespace"], transform["name"])
    assert app["threshold"] == thresholds.app_5xx_per_minute
    topic = stack.one("aws_sns_topic").ref("arn")
    assert all(a["alarm_actions"] == [topic] for a in alarms.values())
    assert len(alarms) == 4


def test_releases_are_announced_on_an_encrypted_topic(codedeploy_stack: SynthesizedStack) -> None:
    topic = codedeploy_stack.one("aws_sns_topic")
    assert topic.body["kms_master_key_id"] == codedeploy_stack.one("aws_kms_key", "keys/notifications_key").ref("arn")
    rules = {
        r.path.split("/")[-1]: r.body
        for r in codedeploy_stack.service().of_type("aws_codestarnotifications_notification_rule")
    }
    assert rules["pipeline"]["resource"] == codedeploy_stack.service().one("aws_codepipeline").ref("arn")
    assert rules["deployment"]["resource"] == codedeploy_stack.service().one("aws_codedeploy_app").ref("arn")
    assert "codedeploy-application-deployment-failed" in rules["deployment"]["event_type_ids"]
    assert all(r["target"] == [{"address": topic.ref("arn"), "type": "SNS"}] for r in rules.values())
    statements = policy(codedeploy_stack.one("aws_sns_topic_policy").body["policy"])["Statement"]
    # One statement per publishing service, each with its own confused-deputy conditions.
    assert all(s["Action"] == ["sns:Publish"] for s in statements)
    assert {s["Principal"]["Service"] for s in statements} == {
        "codestar-notifications.amazonaws.com",
        "cloudwatch.amazonaws.com",
    }
    emails = sorted(s.body["endpoint"] for s in codedeploy_stack.of_type("aws_sns_topic_subscription"))
    assert emails == sorted(codedeploy_stack.config.notifications.email_subscribers)


def test_production_waits_for_a_manual_approval_before_deploying(synthesized: dict[str, SynthesizedStack]) -> None:
    for env, stack in every_service(synthesized):
        stages = [s["name"] for s in stack.service().one("aws_codepipeline").body["stage"]]
        if env == "prod":
            # Approved before anything changes: the migration runs after the approval.
            assert stages == ["Source", "Build", "Approve", "Migrate", "Deploy"]
            action = stack.service().one("aws_codepipeline").body["stage"][2]["action"][0]
            assert (action["category"], action["provider"]) == ("Approval", "Manual")
            assert action["configuration"]["NotificationArn"] == stack.one("aws_sns_topic").ref("arn")
        else:
            assert stages == ["Source", "Build", "Migrate", "Deploy"], env


def test_each_release_migrates_the_database_as_its_owner_before_green_exists(stack: SynthesizedStack) -> None:
    """The Migrate stage runs this release's image once, as a one-off task holding the master's secret,
    and fails the release unless it exits 0; the service's own task never holds that secret."""
    pipeline = stack.service().one("aws_codepipeline").body
    (migrate,) = [s for s in pipeline["stage"] if s["name"] == "Migrate"]
    (action,) = migrate["action"]
    project = stack.service().one("aws_codebuild_project", "migrations/project")
    assert action["input_artifacts"] == ["build"] and action["configuration"]["ProjectName"] == project.ref("name")
    variables = {v["name"]: v["value"] for v in project.body["environment"]["environment_variable"]}
    template = json.loads(variables["MIGRATE_TASKDEF"])
    (container,) = template["containerDefinitions"]
    assert container["command"] == ["python", "-m", "service.migrate"] and container["portMappings"] == []
    assert [s["valueFrom"] for s in container["secrets"]] == [stack.database_secret]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    database = stack.config.database_identity(stack.focused)
    assert (environment["DB_USER"], environment["DB_OWNER_ROLE"]) == (database.user, database.owner)
    assert "taskRoleArn" not in template, "the migration calls no AWS API"
    assert variables["CLUSTER"] == stack.one("aws_ecs_cluster").ref("name")
    service = stack.service().one("aws_ecs_service").body["network_configuration"]
    assert all(subnet in variables["NETWORK"] for subnet in service["subnets"])
    assert service["security_groups"][0] in variables["NETWORK"]
    commands = " ".join(yaml.safe_load(project.body["source"]["buildspec"])["phases"]["build"]["commands"])
    assert "aws ecs run-task" in commands and "aws ecs wait tasks-stopped" in commands
    assert commands.rstrip().endswith('test "$CODE" = 0'), "the step fails unless the migration exits 0"


# --- ECS-native blue/green (deployment.controller: ecs) ---------------------------------------


def test_ecs_native_service_runs_its_own_blue_green(ecs_stack: SynthesizedStack) -> None:
    service = ecs_stack.service().one("aws_ecs_service").body
    traffic = ecs_stack.spec.deployment.traffic
    assert service["deployment_controller"] == {"type": "ECS"}
    configuration = service["deployment_configuration"]
    assert (
        configuration["strategy"] == {"all_at_once": "BLUE_GREEN", "canary": "CANARY", "linear": "LINEAR"}[traffic.type]
    )
    assert configuration["bake_time_in_minutes"] == str(ecs_stack.spec.deployment.termination_wait_minutes)
    if traffic.type == "linear":
        assert configuration["linear_configuration"] == {
            "step_percent": traffic.percent,
            "step_bake_time_in_minutes": str(traffic.every_minutes),
        }
    assert {"task_definition", "load_balancer"} <= set(service["lifecycle"]["ignore_changes"])
    assert not ecs_stack.of_type("aws_codedeploy_app") and not ecs_stack.of_type("aws_codedeploy_deployment_group")


def test_ecs_native_switches_listener_rules_it_owns(ecs_stack: SynthesizedStack) -> None:
    service = ecs_stack.service().one("aws_ecs_service").body
    advanced = service["load_balancer"][0]["advanced_configuration"]
    prod_rule = ecs_stack.service().one("aws_lb_listener_rule", "route/prod_rule")
    test_rule = ecs_stack.service().one("aws_lb_listener_rule", "route/test_rule")
    assert advanced == {
        "alternate_target_group_arn": ecs_stack.service().one("aws_lb_target_group", "route/green").ref("arn"),
        "production_listener_rule": prod_rule.ref("arn"),
        "test_listener_rule": test_rule.ref("arn"),
        "role_arn": ecs_stack.service().one("aws_iam_role", "roles/ecs_infrastructure").ref("arn"),
    }
    assert prod_rule.body["listener_arn"] == ecs_stack.one("aws_lb_listener", "load_balancer/prod_listener").ref("arn")
    for rule in (prod_rule, test_rule):
        assert rule.body["lifecycle"]["ignore_changes"] == ["action"]
    infrastructure = policy(
        ecs_stack.service().one("aws_iam_role_policy", "role_policies/ecs_infrastructure").body["policy"]
    )
    modify = next(s for s in infrastructure["Statement"] if s["Sid"] == "ShiftListenerRules")
    assert sorted(modify["Resource"]) == sorted([prod_rule.ref("arn"), test_rule.ref("arn")])


def test_ecs_native_runs_the_same_hook_and_alarms(ecs_stack: SynthesizedStack) -> None:
    service = ecs_stack.service().one("aws_ecs_service").body
    hooks = {h["lifecycle_stages"][0]: h for h in service["deployment_configuration"]["lifecycle_hook"]}
    assert sorted(hooks) == ["POST_TEST_TRAFFIC_SHIFT", "PRE_SCALE_UP"]
    test = ecs_stack.service().one("aws_lambda_function", "deployment_hooks/test_traffic").ref("arn")
    release = ecs_stack.service().one("aws_lambda_function", "release_alarms/release_alarms").ref("arn")
    assert hooks["POST_TEST_TRAFFIC_SHIFT"]["hook_target_arn"] == test
    assert hooks["PRE_SCALE_UP"]["hook_target_arn"] == release, "alarms judge green before its tasks start"
    invoker = ecs_stack.service().one("aws_iam_role", "roles/ecs_hook_invoker").ref("arn")
    assert all(h["role_arn"] == invoker for h in hooks.values())
    alarm_names = sorted(
        a.ref("alarm_name")
        for a in ecs_stack.service().of_type("aws_cloudwatch_metric_alarm")
        if a.path.split("/")[-2] == "alarms"
    )
    assert service["alarms"]["enable"] is True and service["alarms"]["rollback"] is True
    assert sorted(service["alarms"]["alarm_names"]) == alarm_names, "every rollback alarm, by reference"
    hook_role = policy(ecs_stack.service().one("aws_iam_role_policy", "role_policies/test_hook").body["policy"])
    assert "ReportHookResult" not in {s["Sid"] for s in hook_role["Statement"]}, "ECS reads the hook's return value"


def release_step_of(stack: SynthesizedStack, key: str = "app") -> dict[str, Any]:
    """What a service the ECS controller deploys releases through: the pipeline's deploy action,
    the release step's project, its buildspec and the policies of its role and the pipeline's."""
    service = stack.service(key)
    (deploy,) = service.one("aws_codepipeline").body["stage"][-1]["action"]
    project = service.one("aws_codebuild_project", "ecs_release/project")
    return {
        "deploy": deploy,
        "project": project,
        "spec": yaml.safe_load(project.body["source"]["buildspec"].replace("$${", "${")),
        "variables": {v["name"]: v["value"] for v in project.body["environment"]["environment_variable"]},
        "role": policy(service.one("aws_iam_role_policy", "ecs_release/release").body["policy"]),
        "pipeline_role": policy(service.one("aws_iam_role_policy", "role_policies/codepipeline").body["policy"]),
    }


def test_ecs_controller_releases_register_the_stacks_task_definition(ecs_stack: SynthesizedStack) -> None:
    """CodePipeline's ECS action would copy the running revision and swap its image, so Terraform's
    changes to the task definition would never reach the service; the release step registers the
    build's taskdef.json (the live definition, test above) with the built image instead."""
    step = release_step_of(ecs_stack)
    deploy, project = step["deploy"], step["project"]
    assert (deploy["provider"], deploy["category"]) == ("CodeBuild", "Build")
    assert deploy["configuration"] == {"ProjectName": project.ref("name")}
    assert deploy["input_artifacts"] == [deploy_specs.BUILD_ARTIFACT]
    service = ecs_stack.service().one("aws_ecs_service")
    assert step["variables"] == {
        "CLUSTER": ecs_stack.one("aws_ecs_cluster").ref("name"),
        "SERVICE": service.ref("name"),
    }
    commands = step["spec"]["phases"]["build"]["commands"]
    assert any("register-task-definition --cli-input-json file://release-taskdef.json" in c for c in commands)
    assert any("'.containerDefinitions[0].image = $image' taskdef.json" in c for c in commands)
    roll = next(s for s in step["role"]["Statement"] if s["Sid"] == "RollTheService")
    assert roll["Resource"] == [service.ref("id")]
    # The pipeline only starts the step: it can neither register revisions nor update the service.
    pipeline_actions = {a for s in step["pipeline_role"]["Statement"] for a in as_list(s["Action"])}
    assert not {a for a in pipeline_actions if a.startswith("ecs:")}
    run = next(s for s in step["pipeline_role"]["Statement"] if s["Sid"] == "RunReleaseStep")
    assert run["Resource"] == [project.ref("arn")]


def test_the_release_step_waits_as_long_as_an_ecs_native_release_can_take(ecs_stack: SynthesizedStack) -> None:
    """Its shift, its bake and the start of green, within CodeBuild's 8-hour limit."""
    dep = ecs_stack.config.all_services["app"].deployment
    timeout = release_step_of(ecs_stack)["project"].body["build_timeout"]
    assert timeout >= dep.termination_wait_minutes + 30
    assert timeout <= 480


def test_codedeploy_registers_the_task_definition_itself_and_has_no_release_step(
    codedeploy_stack: SynthesizedStack,
) -> None:
    assert not [
        p for p in codedeploy_stack.service().of_type("aws_codebuild_project") if p.path.endswith("ecs_release/project")
    ]
    assert (
        codedeploy_stack.service().one("aws_codepipeline").body["stage"][-1]["action"][0]["provider"]
        == "CodeDeployToECS"
    )


# --- scale and cost ------------------------------------------------------------------------------


def test_spot_capacity_outside_production_only(synthesized: dict[str, SynthesizedStack]) -> None:
    for env, stack in every_service(synthesized):
        strategy = {
            s["capacity_provider"]: s for s in stack.service().one("aws_ecs_service").body["capacity_provider_strategy"]
        }
        assert strategy["FARGATE"]["base"] == 1, env
        assert ("FARGATE_SPOT" in strategy) is (not stack.config.production), env
        providers = stack.one("aws_ecs_cluster_capacity_providers").body["capacity_providers"]
        assert providers == ["FARGATE", "FARGATE_SPOT"]


def test_green_task_sets_use_the_services_capacity_strategy(codedeploy_stack: SynthesizedStack) -> None:
    appspec = yaml.safe_load(build_environment(codedeploy_stack)["APPSPEC_YAML"])
    in_appspec = appspec["Resources"][0]["TargetService"]["Properties"]["CapacityProviderStrategy"]
    service = codedeploy_stack.service().one("aws_ecs_service").body["capacity_provider_strategy"]
    assert [(s["CapacityProvider"], s["Weight"], s["Base"]) for s in in_appspec] == [
        (s["capacity_provider"], s["weight"], s["base"]) for s in service
    ]


def test_autoscaling_owns_the_task_count_where_configured(stack: SynthesizedStack) -> None:
    scaling = stack.spec.autoscaling
    ignored = stack.service().one("aws_ecs_service").body["lifecycle"]["ignore_changes"]
    if scaling is None:
        assert not stack.of_type("aws_appautoscaling_target")
        assert "desired_count" not in ignored
        return
    assert "desired_count" in ignored
    target = stack.service().one("aws_appautoscaling_target").body
    cluster, service = stack.one("aws_ecs_cluster").ref("name"), stack.service().one("aws_ecs_service").ref("name")
    # The scalable target is the service, not a task set: scaling survives blue/green deployments.
    assert target["resource_id"] == f"service/{cluster}/{service}"
    assert (target["min_capacity"], target["max_capacity"]) == (scaling.min_tasks, scaling.max_tasks)

    def metric(policy: dict[str, Any]) -> str:
        tracking = policy["target_tracking_scaling_policy_configuration"]
        if "predefined_metric_specification" in tracking:
            return str(tracking["predefined_metric_specification"]["predefined_metric_type"])
        (returned,) = [m for m in tracking["customized_metric_specification"]["metrics"] if m["return_data"]]
        return str(returned["label"])

    policies = {metric(p.body): p.body for p in stack.of_type("aws_appautoscaling_policy")}
    expected = {
        "ECSServiceAverageCPUUtilization": scaling.cpu_target_percent,
        "ECSServiceAverageMemoryUtilization": scaling.memory_target_percent,
        "ALB requests per task": scaling.requests_per_task_per_minute,
    }
    assert {k: v["target_tracking_scaling_policy_configuration"]["target_value"] for k, v in policies.items()} == {
        k: v for k, v in expected.items() if v is not None
    }
    schedules = {
        a.body["name"].rsplit("-", 1)[-1]: a.body for a in stack.of_type("aws_appautoscaling_scheduled_action")
    }
    assert set(schedules) == {s.name for s in scaling.schedules}
    for schedule in scaling.schedules:
        action = schedules[schedule.name]
        assert action["schedule"] == schedule.schedule and action["timezone"] == schedule.timezone
        assert action["scalable_target_action"] == {
            "min_capacity": str(schedule.min_tasks),
            "max_capacity": str(schedule.max_tasks),
        }


def test_request_scaling_counts_the_load_balancer_not_one_colour(prod: SynthesizedStack) -> None:
    """ALBRequestCountPerTarget names one target group, and production alternates between blue and
    green: the policy divides the load balancer's requests by the service's running tasks instead."""
    policies = [p.body for p in prod.of_type("aws_appautoscaling_policy")]
    assert all(
        p["target_tracking_scaling_policy_configuration"]
        .get("predefined_metric_specification", {})
        .get("predefined_metric_type")
        != "ALBRequestCountPerTarget"
        for p in policies
    )
    (requests,) = [p for p in policies if p["name"].endswith("-requests")]
    tracking = requests["target_tracking_scaling_policy_configuration"]
    metrics = {m["id"]: m for m in tracking["customized_metric_specification"]["metrics"]}
    assert metrics["per_task"] == {
        "id": "per_task",
        "expression": "requests / tasks",
        "label": "ALB requests per task",
        "return_data": True,
    }
    counted = metrics["requests"]["metric_stat"]
    assert (counted["metric"]["namespace"], counted["metric"]["metric_name"], counted["stat"]) == (
        "AWS/ApplicationELB",
        "RequestCount",
        "Sum",
    )
    assert counted["metric"]["dimensions"] == [{"name": "LoadBalancer", "value": prod.one("aws_lb").ref("arn_suffix")}]
    tasks = metrics["tasks"]["metric_stat"]["metric"]
    assert (tasks["namespace"], tasks["metric_name"]) == ("ECS/ContainerInsights", "RunningTaskCount")
    assert tasks["dimensions"] == [
        {"name": "ClusterName", "value": prod.one("aws_ecs_cluster").ref("name")},
        {"name": "ServiceName", "value": prod.one("aws_ecs_service").ref("name")},
    ]
    insights = prod.one("aws_ecs_cluster").body["setting"]
    assert {"name": "containerInsights", "value": "enabled"} in as_list(insights)
    assert all(m.get("return_data") is False for k, m in metrics.items() if k != "per_task")


def test_serverless_v2_pauses_only_where_configured(stack: SynthesizedStack) -> None:
    capacity = stack.config.database.serverless_v2
    scaling = stack.one("aws_rds_cluster").body.get("serverlessv2_scaling_configuration")
    if capacity is None:
        assert scaling is None
        return
    assert (scaling["min_capacity"], scaling["max_capacity"]) == (capacity.min_acu, capacity.max_acu)
    if capacity.min_acu == 0:
        assert scaling["seconds_until_auto_pause"] == capacity.seconds_until_auto_pause
        assert not stack.config.production
    else:
        assert "seconds_until_auto_pause" not in scaling


def test_shipped_environments_make_sensible_scaling_choices(synthesized: dict[str, SynthesizedStack]) -> None:
    assert synthesized["prod"].config.service.autoscaling is not None
    staging = synthesized["staging"].config.service.autoscaling
    assert staging is not None and any(s.min_tasks == 0 for s in staging.schedules), "staging sleeps at night"
    prod = synthesized["prod"].config.service.autoscaling
    assert prod is not None and prod.requests_per_task_per_minute is not None, "prod follows request load too"
    dev = synthesized["dev"].config
    assert dev.database.serverless_v2 is not None and dev.database.serverless_v2.min_acu == 0, "dev's database pauses"
    assert dev.service.autoscaling is not None and any(s.max_tasks == 0 for s in dev.service.autoscaling.schedules)


def test_the_hook_reserves_no_concurrency_a_new_account_may_not_have(stack: SynthesizedStack) -> None:
    """A new account's concurrency quota can leave nothing to reserve: CreateFunction would fail."""
    for function in stack.of_type("aws_lambda_function"):
        assert "reserved_concurrent_executions" not in function.body, function.path


def test_the_deployment_controller_owns_what_only_a_deployment_can_change(stack: SynthesizedStack) -> None:
    """UpdateService refuses a CODE_DEPLOY service's network, platform and capacity changes; each release's
    AppSpec carries them to green instead, so Terraform leaves them to CodeDeploy."""
    service = stack.service().one("aws_ecs_service").body
    ignored = set(service["lifecycle"]["ignore_changes"])
    owned = {"network_configuration", "platform_version", "capacity_provider_strategy"}
    if service["deployment_controller"]["type"] == "CODE_DEPLOY":
        assert owned <= ignored
        appspec = yaml.safe_load(build_environment(stack)["APPSPEC_YAML"])
        properties = appspec["Resources"][0]["TargetService"]["Properties"]
        network = properties["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["Subnets"] == service["network_configuration"]["subnets"]
        assert network["SecurityGroups"] == service["network_configuration"]["security_groups"]
        assert network["AssignPublicIp"] == "DISABLED"
        assert properties["PlatformVersion"] == service["platform_version"]
    else:
        assert not owned & ignored, "ECS applies these through its own deployments"
