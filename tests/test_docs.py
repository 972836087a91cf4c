import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_blocks(path):
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
        return re.findall(r'```python\n(.*?)```', f.read(), flags=re.S)


def test_adding_a_model_runs():
    r"""docs/adding_a_model.md: the model file and the training block run
    as printed; the model trains with the one loop and the pipeline's
    builder."""
    blocks = python_blocks('docs/adding_a_model.md')
    scope = {}
    exec(blocks[0], scope)  # the file: class MF
    exec(blocks[1], scope)  # it trains
    model, result = scope['model'], scope['result']
    assert type(model).__name__ == 'MF' and model.embedding_dim == 16
    assert result.epochs_run == 5
    assert set(result.test) == {'recall@10', 'ndcg@10', 'recall@20',
                                'ndcg@20'}
    # the registry lines name what exists
    lines = blocks[2]
    assert "MODELS.register('mf', MF, build=cf_backbone)" in lines
    from adar_pyg import pipeline, registry
    assert callable(pipeline.cf_backbone) and registry.ModelName


def test_large_graphs_runs():
    r"""docs/large_graphs.md: the loader block and the SampledCFTask block
    run as printed, in one scope."""
    blocks = python_blocks('docs/large_graphs.md')
    assert len(blocks) == 2
    scope = {}
    exec(blocks[0], scope)
    pairs = set(map(tuple, scope['data']['user', 'rates', 'item']
                    .edge_index.t().tolist()))
    assert set(zip(scope['user'].tolist(), scope['pos'].tolist())) <= pairs
    exec(blocks[1], scope)
    result = scope['result']
    assert result.epochs_run == 3
    assert 0 <= result.test['recall@20'] <= 1
    assert "subgraph_sampler='torch'" in repr(scope['task'])
