"""Environment configuration: the YAML files in this folder and the schema that validates them."""

from config.loader import config_path, load_config, shipped_environments
from config.naming import ResourceNames
from config.problems import ConfigError, Problem
from config.schema import EnvironmentConfig

__all__ = [
    "ConfigError",
    "EnvironmentConfig",
    "Problem",
    "ResourceNames",
    "config_path",
    "load_config",
    "shipped_environments",
]
