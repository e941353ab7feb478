"""A regional WAF web ACL for the public ALB: AWS managed rule groups, a per-IP rate limit, logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cdktf_cdktf_provider_aws.wafv2_ip_set import Wafv2IpSet
from cdktf_cdktf_provider_aws.wafv2_web_acl import (
    Wafv2WebAcl,
    Wafv2WebAclDefaultAction,
    Wafv2WebAclDefaultActionAllow,
    Wafv2WebAclRule,
    Wafv2WebAclRuleAction,
    Wafv2WebAclRuleActionBlock,
    Wafv2WebAclRuleOverrideAction,
    Wafv2WebAclRuleOverrideActionNone,
    Wafv2WebAclRuleVisibilityConfig,
    Wafv2WebAclVisibilityConfig,
)
from cdktf_cdktf_provider_aws.wafv2_web_acl_logging_configuration import Wafv2WebAclLoggingConfiguration
from constructs import Construct

from modules.logs import encrypted_log_group

#: AWS managed rule groups, in evaluation order. KnownBadInputs blocks Log4Shell (CVE-2021-44228).
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesAnonymousIpList",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
)
#: Rules of those groups that only count: blocking every cloud-hosted client would block
#: legitimate API callers (CI systems, partners' servers).
COUNT_ONLY_RULES = {"AWSManagedRulesAnonymousIpList": ("HostingProviderIPList",)}


def _managed_group(name: str) -> dict[str, Any]:
    statement: dict[str, Any] = {"name": name, "vendor_name": "AWS"}
    overrides = COUNT_ONLY_RULES.get(name, ())
    if overrides:
        statement["rule_action_override"] = [{"name": rule, "action_to_use": {"count": {}}} for rule in overrides]
    return {"managed_rule_group_statement": statement}


@dataclass(frozen=True)
class WafProps:
    name: str
    rate_limit_per_5_minutes: int
    log_retention_days: int
    logs_kms_key_arn: str
    #: Where the product's own checks come from (the VPC's NAT addresses, as /32 CIDRs): the
    #: test hook and the load test send far more than a visitor's rate, so the per-IP rate
    #: limit leaves them out. Every managed rule group still inspects them.
    own_egress_cidrs: Sequence[str]


@dataclass(frozen=True)
class WafOutputs:
    web_acl_arn: str


def _visibility(metric: str) -> dict[str, Any]:
    return {"cloudwatch_metrics_enabled": True, "sampled_requests_enabled": True, "metric_name": metric}


class Waf(Construct):
    def __init__(self, scope: Construct, id: str, props: WafProps) -> None:
        super().__init__(scope, id)
        rules = [
            Wafv2WebAclRule(
                name=group,
                priority=index,
                override_action=Wafv2WebAclRuleOverrideAction(none=Wafv2WebAclRuleOverrideActionNone()),
                statement=_managed_group(group),
                visibility_config=Wafv2WebAclRuleVisibilityConfig(**_visibility(group)),
            )
            for index, group in enumerate(MANAGED_RULE_GROUPS)
        ]
        own_egress = Wafv2IpSet(
            self,
            "own_egress",
            name=f"{props.name}-own-egress",
            description="NAT addresses of the VPC: the deployment hook and the load test leave through them",
            scope="REGIONAL",
            ip_address_version="IPV4",
            addresses=list(props.own_egress_cidrs),
        )
        rate = {
            "limit": props.rate_limit_per_5_minutes,
            "aggregate_key_type": "IP",
            "scope_down_statement": {
                "not_statement": {"statement": {"ip_set_reference_statement": {"arn": own_egress.arn}}}
            },
        }
        rules.append(
            Wafv2WebAclRule(
                name="RateLimitPerIp",
                priority=len(MANAGED_RULE_GROUPS),
                action=Wafv2WebAclRuleAction(block=Wafv2WebAclRuleActionBlock()),
                statement={"rate_based_statement": rate},
                visibility_config=Wafv2WebAclRuleVisibilityConfig(**_visibility("RateLimitPerIp")),
            )
        )
        acl = Wafv2WebAcl(
            self,
            "web_acl",
            name=props.name,
            scope="REGIONAL",
            default_action=Wafv2WebAclDefaultAction(allow=Wafv2WebAclDefaultActionAllow()),
            rule=rules,
            visibility_config=Wafv2WebAclVisibilityConfig(**_visibility(props.name)),
        )
        # WAF only delivers to log groups whose name starts with aws-waf-logs-.
        log_group = encrypted_log_group(
            self, "log_group", f"aws-waf-logs-{props.name}", props.log_retention_days, props.logs_kms_key_arn
        )
        Wafv2WebAclLoggingConfiguration(self, "logging", resource_arn=acl.arn, log_destination_configs=[log_group.arn])
        self.outputs = WafOutputs(web_acl_arn=acl.arn)
