"""Where people hear about releases: an encrypted SNS topic, its subscribers, and the event rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_aws.codestarnotifications_notification_rule import (
    CodestarnotificationsNotificationRule,
    CodestarnotificationsNotificationRuleTarget,
)
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from modules import iam

PIPELINE_EVENTS = [
    "codepipeline-pipeline-pipeline-execution-failed",
    "codepipeline-pipeline-pipeline-execution-succeeded",
    "codepipeline-pipeline-manual-approval-needed",
]
#: A rolled-back deployment is reported by CodeDeploy as failed.
DEPLOYMENT_EVENTS = [
    "codedeploy-application-deployment-failed",
    "codedeploy-application-deployment-succeeded",
]


@dataclass(frozen=True)
class NotificationTopicProps:
    topic_name: str
    account_id: str
    kms_key_arn: str
    email_subscribers: Sequence[str]
    #: The alarms that notify the topic (ARN patterns: alarms name the topic, so they cannot be
    #: referenced from its policy).
    alarm_arns: Sequence[str]


@dataclass(frozen=True)
class NotificationTopicOutputs:
    topic_arn: str
    #: The topic policy: CodeStar Notifications checks that it may publish when a rule is created.
    policy: ITerraformDependable


class NotificationTopic(Construct):
    def __init__(self, scope: Construct, id: str, props: NotificationTopicProps) -> None:
        super().__init__(scope, id)
        topic = SnsTopic(self, "topic", name=props.topic_name, kms_master_key_id=props.kms_key_arn)
        account = {"aws:SourceAccount": props.account_id}
        # Each service only for this account's resources of its own kind. CloudWatch documents
        # aws:SourceArn (the alarm) for the topic policy; CodeStar Notifications documents
        # aws:SourceAccount only, and its rules' ARNs carry a generated id.
        # https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html#source-account-versus-source-owner
        # https://docs.aws.amazon.com/dtconsole/latest/userguide/set-up-sns.html
        alarms = iam.statement(
            "AlarmsPublish",
            ["sns:Publish"],
            [topic.arn],
            conditions={"StringEquals": account, "ArnLike": {"aws:SourceArn": list(props.alarm_arns)}},
        )
        alarms["Principal"] = {"Service": "cloudwatch.amazonaws.com"}
        rules = iam.statement(
            "NotificationRulesPublish", ["sns:Publish"], [topic.arn], conditions={"StringEquals": account}
        )
        rules["Principal"] = {"Service": "codestar-notifications.amazonaws.com"}
        policy = SnsTopicPolicy(self, "policy", arn=topic.arn, policy=iam.document(alarms, rules))
        for index, address in enumerate(props.email_subscribers):
            SnsTopicSubscription(self, f"email_{index}", topic_arn=topic.arn, protocol="email", endpoint=address)
        self.outputs = NotificationTopicOutputs(topic_arn=topic.arn, policy=policy)


@dataclass(frozen=True)
class NotificationRulesProps:
    name_prefix: str
    topic: NotificationTopicOutputs
    pipeline_arn: str
    #: None with ECS-native blue/green: the pipeline's events then cover the deployment too.
    codedeploy_app_arn: str | None


class NotificationRules(Construct):
    def __init__(self, scope: Construct, id: str, props: NotificationRulesProps) -> None:
        super().__init__(scope, id)
        sources = [("pipeline", props.pipeline_arn, PIPELINE_EVENTS)]
        if props.codedeploy_app_arn:
            sources.append(("deployment", props.codedeploy_app_arn, DEPLOYMENT_EVENTS))
        for purpose, resource, events in sources:
            CodestarnotificationsNotificationRule(
                self,
                purpose,
                name=f"{props.name_prefix}-{purpose}",
                resource=resource,
                event_type_ids=events,
                detail_type="FULL",
                target=[CodestarnotificationsNotificationRuleTarget(address=props.topic.topic_arn, type="SNS")],
                # https://docs.aws.amazon.com/dtconsole/latest/userguide/notification-target-create.html
                depends_on=[props.topic.policy],
            )
