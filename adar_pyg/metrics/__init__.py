from adar_pyg.metrics.ranking import FullRankingEvaluator

__all__ = ['FullRankingEvaluator']
