"""Audit the tracing (APM) configuration of Huawei Cloud FunctionGraph functions."""

__version__ = "0.1.0"
