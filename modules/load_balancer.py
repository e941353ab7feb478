"""The ALB: a production listener, a test listener, and the blue and green target groups.

CodeDeploy owns the listeners' default actions after creation (it swaps them between the
target groups), so Terraform ignores changes to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cdktf import ITerraformDependable, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.lb import Lb, LbAccessLogs
from cdktf_cdktf_provider_aws.lb_listener import (
    LbListener,
    LbListenerDefaultAction,
    LbListenerDefaultActionRedirect,
)
from cdktf_cdktf_provider_aws.lb_listener_rule import (
    LbListenerRule,
    LbListenerRuleAction,
    LbListenerRuleCondition,
    LbListenerRuleConditionPathPattern,
)
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck
from cdktf_cdktf_provider_aws.wafv2_web_acl_association import Wafv2WebAclAssociation
from constructs import Construct

from config.schema import TlsPolicy
from modules.access_logs import ACCESS_LOG_PREFIX
from modules.s3 import SecureBucketOutputs

#: CodeDeploy swaps these between blue and green; Terraform must not swap them back.
CODEDEPLOY_OWNED_LISTENER_FIELDS = ["default_action"]


@dataclass(frozen=True)
class LoadBalancerSettings:
    """The ``load_balancer`` section's settings of the ALB, its listeners and target groups."""

    test_listener_port: int
    ssl_policy: TlsPolicy
    health_check_interval_seconds: int
    health_check_timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int
    deregistration_delay_seconds: int
    idle_timeout_seconds: int
    deletion_protection: bool
    load_balancing_algorithm: Literal["round_robin", "least_outstanding_requests", "weighted_random"] | None


@dataclass(frozen=True)
class LoadBalancerProps:
    alb_name: str
    blue_target_group_name: str
    green_target_group_name: str
    vpc_id: str
    public_subnet_ids: Sequence[str]
    security_group_id: str
    #: ALB access logs go here; the ALB test-writes to it when logging is turned on, so its
    #: policy must exist first.
    access_log_bucket: SecureBucketOutputs
    container_port: int
    health_check_path: str
    #: The production listener's port (443 with a certificate, unless configured).
    prod_listener_port: int
    #: ACM certificate; with it both listeners are HTTPS and port 80 redirects to the production port.
    certificate_arn: str | None
    waf_web_acl_arn: str | None
    settings: LoadBalancerSettings
    #: ECS-native blue/green switches listener rules, not default actions: create one per listener.
    listener_rules: bool = False


@dataclass(frozen=True)
class TargetGroupRef:
    """One colour's target group."""

    arn: str
    name: str
    #: What CloudWatch's TargetGroup dimension names.
    arn_suffix: str


@dataclass(frozen=True)
class ListenerRules:
    """The rules ECS-native blue/green rewrites, one per listener."""

    prod_rule_arn: str
    test_rule_arn: str


@dataclass(frozen=True)
class TrafficRoute:
    """Where a service's traffic arrives, and the two colours it can reach."""

    prod_listener_arn: str
    test_listener_arn: str
    #: Production forwards here when the stack is created; green is the first colour deployed.
    blue: TargetGroupRef
    green: TargetGroupRef
    #: None: the listeners' default actions are the route (CodeDeploy swaps them).
    rules: ListenerRules | None = None

    @property
    def listener_arns(self) -> list[str]:
        return [self.prod_listener_arn, self.test_listener_arn]

    @property
    def colours(self) -> tuple[TargetGroupRef, TargetGroupRef]:
        return (self.blue, self.green)


@dataclass(frozen=True)
class LoadBalancerOutputs:
    alb_arn: str
    alb_arn_suffix: str
    alb_dns_name: str
    #: The ALB's Route 53 zone, for alias records.
    alb_zone_id: str
    route: TrafficRoute
    #: The listeners (and rules) that forward to the target groups: ECS refuses a service whose
    #: target group no load balancer uses yet, so the service waits for these.
    forwarding: tuple[ITerraformDependable, ...]


class LoadBalancer(Construct):
    def __init__(self, scope: Construct, id: str, props: LoadBalancerProps) -> None:
        super().__init__(scope, id)
        p = props
        alb = Lb(
            self,
            "alb",
            name=p.alb_name,
            load_balancer_type="application",
            internal=False,
            subnets=list(p.public_subnet_ids),
            security_groups=[p.security_group_id],
            drop_invalid_header_fields=True,
            desync_mitigation_mode="strictest",
            enable_deletion_protection=p.settings.deletion_protection,
            idle_timeout=p.settings.idle_timeout_seconds,
            access_logs=LbAccessLogs(bucket=p.access_log_bucket.bucket_name, enabled=True, prefix=ACCESS_LOG_PREFIX),
            # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html
            depends_on=[p.access_log_bucket.policy],
        )
        blue = self._target_group("blue", p.blue_target_group_name, p)
        green = self._target_group("green", p.green_target_group_name, p)
        prod = self._listener("prod_listener", alb, p.prod_listener_port, blue, p)
        test = self._listener("test_listener", alb, p.settings.test_listener_port, green, p)
        if p.certificate_arn:
            LbListener(
                self,
                "http_redirect",
                load_balancer_arn=alb.arn,
                port=80,
                protocol="HTTP",
                default_action=[
                    LbListenerDefaultAction(
                        type="redirect",
                        redirect=LbListenerDefaultActionRedirect(
                            port=str(p.prod_listener_port), protocol="HTTPS", status_code="HTTP_301"
                        ),
                    )
                ],
            )
        rules = (
            (self._rule("prod_rule", prod, blue), self._rule("test_rule", test, green))
            if p.listener_rules
            else (None, None)
        )
        if p.waf_web_acl_arn:
            Wafv2WebAclAssociation(self, "waf", resource_arn=alb.arn, web_acl_arn=p.waf_web_acl_arn)
        self.outputs = LoadBalancerOutputs(
            alb_arn=alb.arn,
            alb_arn_suffix=alb.arn_suffix,
            alb_dns_name=alb.dns_name,
            alb_zone_id=alb.zone_id,
            route=TrafficRoute(
                prod_listener_arn=prod.arn,
                test_listener_arn=test.arn,
                blue=TargetGroupRef(blue.arn, blue.name, blue.arn_suffix),
                green=TargetGroupRef(green.arn, green.name, green.arn_suffix),
                rules=ListenerRules(rules[0].arn, rules[1].arn) if rules[0] and rules[1] else None,
            ),
            forwarding=(prod, test, *(rule for rule in rules if rule is not None)),
        )

    def _rule(self, id: str, listener: LbListener, target: LbTargetGroup) -> LbListenerRule:
        """Every request, forwarded; ECS rewrites the action during a deployment, Terraform ignores it."""
        return LbListenerRule(
            self,
            id,
            listener_arn=listener.arn,
            priority=1,
            condition=[LbListenerRuleCondition(path_pattern=LbListenerRuleConditionPathPattern(values=["/*"]))],
            action=[LbListenerRuleAction(type="forward", target_group_arn=target.arn)],
            lifecycle=TerraformResourceLifecycle(ignore_changes=["action"]),
        )

    def _target_group(self, colour: str, name: str, p: LoadBalancerProps) -> LbTargetGroup:
        return LbTargetGroup(
            self,
            colour,
            name=name,
            port=p.container_port,
            protocol="HTTP",
            target_type="ip",  # Fargate tasks register by IP (awsvpc networking).
            vpc_id=p.vpc_id,
            deregistration_delay=str(p.settings.deregistration_delay_seconds),
            load_balancing_algorithm_type=p.settings.load_balancing_algorithm,
            health_check=LbTargetGroupHealthCheck(
                enabled=True,
                path=p.health_check_path,
                matcher="200",
                protocol="HTTP",
                interval=p.settings.health_check_interval_seconds,
                timeout=p.settings.health_check_timeout_seconds,
                healthy_threshold=p.settings.healthy_threshold,
                unhealthy_threshold=p.settings.unhealthy_threshold,
            ),
            tags={"colour": colour},
        )

    def _listener(self, id: str, alb: Lb, port: int, target: LbTargetGroup, p: LoadBalancerProps) -> LbListener:
        https = p.certificate_arn is not None
        return LbListener(
            self,
            id,
            load_balancer_arn=alb.arn,
            port=port,
            protocol="HTTPS" if https else "HTTP",
            certificate_arn=p.certificate_arn,
            ssl_policy=p.settings.ssl_policy if https else None,
            default_action=[LbListenerDefaultAction(type="forward", target_group_arn=target.arn)],
            lifecycle=TerraformResourceLifecycle(ignore_changes=CODEDEPLOY_OWNED_LISTENER_FIELDS),
        )
