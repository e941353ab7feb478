"""Every physical resource name, derived from the project and environment in one place.

Names are part of the contract with AWS (some cannot change without replacement) and some
have hard length limits, so they are computed once here and validated before synthesis.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceNames:
    project: str
    environment: str
    account_id: str

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.environment}"

    # --- load balancer (AWS limit: 32 characters each) ---
    @property
    def alb(self) -> str:
        return f"{self.prefix}-alb"

    @property
    def target_group_blue(self) -> str:
        return f"{self.prefix}-blue"

    @property
    def target_group_green(self) -> str:
        return f"{self.prefix}-green"

    # --- containers ---
    @property
    def ecr_repository(self) -> str:
        return f"{self.project}/{self.environment}/app"

    @property
    def cluster(self) -> str:
        return self.prefix

    @property
    def service(self) -> str:
        return f"{self.prefix}-app"

    @property
    def task_family(self) -> str:
        return f"{self.prefix}-app"

    @property
    def app_log_group(self) -> str:
        return f"/ecs/{self.prefix}/app"

    # --- database ---
    @property
    def db_cluster(self) -> str:
        return f"{self.prefix}-db"

    # --- pipeline ---
    @property
    def artifact_bucket(self) -> str:
        # Bucket names are global: the account id keeps them unique across accounts.
        return f"{self.prefix}-artifacts-{self.account_id}"

    @property
    def access_log_bucket(self) -> str:
        return f"{self.prefix}-alb-logs-{self.account_id}"

    @property
    def build_project(self) -> str:
        return f"{self.prefix}-build"

    @property
    def build_log_group(self) -> str:
        return f"/aws/codebuild/{self.build_project}"

    @property
    def pipeline(self) -> str:
        return f"{self.prefix}-pipeline"

    @property
    def codedeploy_app(self) -> str:
        return f"{self.prefix}-app"

    @property
    def deployment_group(self) -> str:
        return f"{self.prefix}-app"

    @property
    def connection(self) -> str:
        # CodeConnections connection names are limited to 32 characters.
        return f"{self.prefix}-source"[:32]

    # --- networking ---
    @property
    def flow_log_group(self) -> str:
        return f"/vpc/{self.prefix}/flow-logs"

    def role(self, purpose: str) -> str:
        return f"{self.prefix}-{purpose}"

    def limits(self) -> list[tuple[str, str, int]]:
        """(what, name, AWS maximum length) for every name with a limit a long prefix can break."""
        return [
            ("load balancer name", self.alb, 32),
            ("blue target group name", self.target_group_blue, 32),
            ("green target group name", self.target_group_green, 32),
            ("artifact bucket name", self.artifact_bucket, 63),
            ("access log bucket name", self.access_log_bucket, 63),
            ("database cluster identifier", self.db_cluster, 63),
            ("IAM role name", self.role("codepipeline"), 64),
        ]
