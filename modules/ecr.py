"""The image registry: immutable tags, scan on push, KMS encryption, a lifecycle policy."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.ecr_lifecycle_policy import EcrLifecyclePolicy
from cdktf_cdktf_provider_aws.ecr_repository import (
    EcrRepository,
    EcrRepositoryEncryptionConfiguration,
    EcrRepositoryImageScanningConfiguration,
)
from constructs import Construct


@dataclass(frozen=True)
class EcrProps:
    repository_name: str
    kms_key_arn: str
    #: The tag of the image the first task definition names; never expired.
    protected_tag: str
    #: Tagged images kept; older ones expire (a rollback needs the previous few, not hundreds).
    keep_tagged_images: int = 50
    untagged_expiry_days: int = 7
    #: Terraform refuses to destroy the repository (the images production runs).
    prevent_destroy: bool = False


@dataclass(frozen=True)
class EcrOutputs:
    repository_arn: str
    repository_name: str
    repository_url: str


def lifecycle_policy(keep_tagged_images: int, untagged_expiry_days: int, *protected_tags: str) -> str:
    """Keep the first task definition's image, expire untagged layers quickly, keep the newest tagged images.

    The image Terraform's own task definition names (each of ``protected_tags``) must outlive any
    number of releases: a replaced service starts from it. ECR never lets a lower-priority rule
    expire an image a higher-priority rule selects. One rule per tag: a rule listing several
    patterns selects only images that match them all.
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html#lifecycle_policy_evaluation
    """
    keep = [
        {
            "rulePriority": priority,
            "description": f"Keep the {tag} image the stack's task definition names",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": [tag],
                "countType": "imageCountMoreThan",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        }
        for priority, tag in enumerate(protected_tags, start=1)
    ]
    after = len(keep)
    return json.dumps(
        {
            "rules": [
                *keep,
                {
                    "rulePriority": after + 1,
                    "description": f"Expire untagged images after {untagged_expiry_days} days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": untagged_expiry_days,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": after + 2,
                    "description": f"Keep the newest {keep_tagged_images} tagged images",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "imageCountMoreThan",
                        "countNumber": keep_tagged_images,
                    },
                    "action": {"type": "expire"},
                },
            ]
        },
        indent=2,
    )


class Ecr(Construct):
    def __init__(self, scope: Construct, id: str, props: EcrProps) -> None:
        super().__init__(scope, id)
        repository = EcrRepository(
            self,
            "repository",
            name=props.repository_name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=EcrRepositoryImageScanningConfiguration(scan_on_push=True),
            encryption_configuration=[
                EcrRepositoryEncryptionConfiguration(encryption_type="KMS", kms_key=props.kms_key_arn)
            ],
            force_delete=False,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True) if props.prevent_destroy else None,
        )
        EcrLifecyclePolicy(
            self,
            "lifecycle",
            repository=repository.name,
            policy=lifecycle_policy(props.keep_tagged_images, props.untagged_expiry_days, props.protected_tag),
        )
        self.outputs = EcrOutputs(
            repository_arn=repository.arn, repository_name=repository.name, repository_url=repository.repository_url
        )
