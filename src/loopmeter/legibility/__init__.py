"""Agent legibility: is the work loop there for an agent to run? (docs/legibility.md)"""

from .score import scorecard

__all__ = ["scorecard"]
