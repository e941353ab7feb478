"""The environment's ALB with its production and test listeners, and each service's route on them.

``LoadBalancer`` is the environment's: the ALB, the HTTPS production listener, the test listener,
the HTTP redirect and the WAF. ``ServiceRoute`` is a service's: its blue and green target groups
and how the listeners reach them. The service whose route is the default (no host, no paths) is
the listeners' default action; every other routed service gets a rule on each listener: on the
production listener its host and paths, on the test listener a header naming the service (what
the hooks and the load test send), so test traffic reaches only that service's green.

The deployment controller rewrites what forwards to a service's target groups (CodeDeploy the
default actions and the rules that forward to its group, ECS-native its own two rules), so
Terraform ignores those actions after creation.
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
    LbListenerDefaultActionFixedResponse,
    LbListenerDefaultActionRedirect,
)
from cdktf_cdktf_provider_aws.lb_listener_rule import (
    LbListenerRule,
    LbListenerRuleAction,
    LbListenerRuleCondition,
    LbListenerRuleConditionHostHeader,
    LbListenerRuleConditionHttpHeader,
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
#: The header the test listener routes a service's test traffic by (hooks/test_traffic.py sends it).
TEST_ROUTE_HEADER = "X-Bluegreen-Service"
#: A catch-all rule (the default route under ECS-native blue/green) is evaluated after every other.
LAST_PRIORITY = 50_000


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
class TargetGroupRef:
    """One colour's target group."""

    arn: str
    name: str
    #: What CloudWatch's TargetGroup dimension names.
    arn_suffix: str


@dataclass(frozen=True)
class ListenerRules:
    """A service's rule on each listener: what ECS-native blue/green rewrites, or a non-default route."""

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
    #: The header and value that send test-listener traffic to this service (None: the default route).
    test_header: tuple[str, str] | None = None

    @property
    def listener_arns(self) -> list[str]:
        return [self.prod_listener_arn, self.test_listener_arn]

    @property
    def colours(self) -> tuple[TargetGroupRef, TargetGroupRef]:
        return (self.blue, self.green)


@dataclass(frozen=True)
class Listeners:
    """The environment's two listeners, as the services' routes see them."""

    prod_listener_arn: str
    test_listener_arn: str
    #: What forwards to the default route's target groups (its ECS service waits for them).
    forwarding: tuple[ITerraformDependable, ...]


@dataclass(frozen=True)
class LoadBalancerProps:
    alb_name: str
    vpc_id: str
    public_subnet_ids: Sequence[str]
    security_group_id: str
    #: ALB access logs go here; the ALB test-writes to it when logging is turned on, so its
    #: policy must exist first.
    access_log_bucket: SecureBucketOutputs
    #: The production listener's port (443 with a certificate, unless configured).
    prod_listener_port: int
    #: ACM certificate; with it both listeners are HTTPS and port 80 redirects to the production port.
    certificate_arn: str | None
    waf_web_acl_arn: str | None
    settings: LoadBalancerSettings


@dataclass(frozen=True)
class LoadBalancerOutputs:
    alb_arn: str
    alb_arn_suffix: str
    alb_dns_name: str
    #: The ALB's Route 53 zone, for alias records.
    alb_zone_id: str


class LoadBalancer(Construct):
    def __init__(self, scope: Construct, id: str, props: LoadBalancerProps) -> None:
        super().__init__(scope, id)
        p = props
        self._props = p
        self._alb = alb = Lb(
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
        if p.waf_web_acl_arn:
            Wafv2WebAclAssociation(self, "waf", resource_arn=alb.arn, web_acl_arn=p.waf_web_acl_arn)
        self.outputs = LoadBalancerOutputs(
            alb_arn=alb.arn, alb_arn_suffix=alb.arn_suffix, alb_dns_name=alb.dns_name, alb_zone_id=alb.zone_id
        )

    def listeners(self, default: tuple[TargetGroupRef, TargetGroupRef] | None) -> Listeners:
        """The two listeners: forwarding to the default route's blue (production) and green (test),
        or, without a default route, answering 404 to what no rule routes."""
        p = self._props
        prod = self._listener("prod_listener", p.prod_listener_port, default[0] if default else None)
        test = self._listener("test_listener", p.settings.test_listener_port, default[1] if default else None)
        return Listeners(prod.arn, test.arn, (prod, test) if default else ())

    def _listener(self, id: str, port: int, target: TargetGroupRef | None) -> LbListener:
        p = self._props
        https = p.certificate_arn is not None
        action = (
            LbListenerDefaultAction(type="forward", target_group_arn=target.arn)
            if target
            else LbListenerDefaultAction(
                type="fixed-response",
                fixed_response=LbListenerDefaultActionFixedResponse(
                    content_type="text/plain", status_code="404", message_body="no service answers here"
                ),
            )
        )
        return LbListener(
            self,
            id,
            load_balancer_arn=self._alb.arn,
            port=port,
            protocol="HTTPS" if https else "HTTP",
            certificate_arn=p.certificate_arn,
            ssl_policy=p.settings.ssl_policy if https else None,
            default_action=[action],
            lifecycle=TerraformResourceLifecycle(ignore_changes=CODEDEPLOY_OWNED_LISTENER_FIELDS),
        )


@dataclass(frozen=True)
class RuleConditions:
    """How a service's rules match: the route's host and paths on production, its key on test."""

    priority: int
    host: str | None
    paths: tuple[str, ...]
    #: The test listener's rule matches this header value (None: every request, like the production rule).
    test_header_value: str | None


@dataclass(frozen=True)
class ServiceRouteProps:
    blue_target_group_name: str
    green_target_group_name: str
    vpc_id: str
    container_port: int
    health_check_path: str
    settings: LoadBalancerSettings


@dataclass(frozen=True)
class ServiceRouteOutputs:
    route: TrafficRoute
    #: What forwards to the target groups: ECS refuses a service whose target group no load
    #: balancer uses yet ("does not have an associated load balancer"), so the service waits.
    forwarding: tuple[ITerraformDependable, ...]


class ServiceRoute(Construct):
    """A service's target groups, and (``forward``) how the listeners reach them."""

    def __init__(self, scope: Construct, id: str, props: ServiceRouteProps) -> None:
        super().__init__(scope, id)
        p = props
        self._props = p
        blue = self._target_group("blue", p.blue_target_group_name)
        green = self._target_group("green", p.green_target_group_name)
        self.colours = (
            TargetGroupRef(blue.arn, blue.name, blue.arn_suffix),
            TargetGroupRef(green.arn, green.name, green.arn_suffix),
        )

    def forward(self, listeners: Listeners, rules: RuleConditions | None) -> ServiceRouteOutputs:
        """The route: the listeners' defaults (``rules`` None, the default route), or this service's rules."""
        blue, green = self.colours
        if rules is None:
            route = TrafficRoute(listeners.prod_listener_arn, listeners.test_listener_arn, blue, green)
            return ServiceRouteOutputs(route, listeners.forwarding)
        production = [
            *(
                [LbListenerRuleCondition(host_header=LbListenerRuleConditionHostHeader(values=[rules.host]))]
                if rules.host
                else []
            ),
            *(
                [LbListenerRuleCondition(path_pattern=LbListenerRuleConditionPathPattern(values=list(rules.paths)))]
                if rules.paths
                else []
            ),
        ] or [LbListenerRuleCondition(path_pattern=LbListenerRuleConditionPathPattern(values=["/*"]))]
        test = (
            [
                LbListenerRuleCondition(
                    http_header=LbListenerRuleConditionHttpHeader(
                        http_header_name=TEST_ROUTE_HEADER, values=[rules.test_header_value]
                    )
                )
            ]
            if rules.test_header_value
            else production
        )
        prod_rule = self._rule("prod_rule", listeners.prod_listener_arn, rules.priority, production, blue)
        test_rule = self._rule("test_rule", listeners.test_listener_arn, rules.priority, test, green)
        header = (TEST_ROUTE_HEADER, rules.test_header_value) if rules.test_header_value else None
        route = TrafficRoute(
            listeners.prod_listener_arn,
            listeners.test_listener_arn,
            blue,
            green,
            ListenerRules(prod_rule.arn, test_rule.arn),
            header,
        )
        # The default route (under ECS-native blue/green) is also the listeners' default action.
        default = listeners.forwarding if rules.test_header_value is None else ()
        return ServiceRouteOutputs(route, (*default, prod_rule, test_rule))

    def _rule(
        self,
        id: str,
        listener_arn: str,
        priority: int,
        conditions: list[LbListenerRuleCondition],
        target: TargetGroupRef,
    ) -> LbListenerRule:
        """The controller rewrites the action during a deployment; Terraform ignores it."""
        return LbListenerRule(
            self,
            id,
            listener_arn=listener_arn,
            priority=priority,
            condition=conditions,
            action=[LbListenerRuleAction(type="forward", target_group_arn=target.arn)],
            lifecycle=TerraformResourceLifecycle(ignore_changes=["action"]),
        )

    def _target_group(self, colour: str, name: str) -> LbTargetGroup:
        p = self._props
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
