"""benchmarks/gowalla_accuracy.py's report from a result (no training): the
wall-clock axis and the hours to the last epoch."""
import math

from scripts import load_script


def fake_out(tmp_path, epochs=200, every=10):
    curve = [{'epoch': e, 'loss': 1 / e, 'val_recall@20': 0.1 + e / 1e4,
              'val_ndcg@20': 0.05 + e / 2e4}
             for e in range(every, epochs + 1, every)]
    return {'command': 'python benchmarks/gowalla_accuracy.py',
            'protocol_here': 'fake', 'eval_every': every,
            'test': {'recall@20': 0.17, 'ndcg@20': 0.14},
            'ratio': {'recall@20': 0.17 / 0.1830, 'ndcg@20': 0.14 / 0.1554},
            'run': {'best_epoch': epochs, 'epochs_run': epochs,
                    'seconds_per_epoch': 36.0, 'seconds_per_eval': 72.0,
                    'threads': 1},
            'curve': curve, 'png': str(tmp_path / 'g.png')}


def test_hours_and_plot(tmp_path):
    g = load_script('benchmarks/gowalla_accuracy.py')
    out = fake_out(tmp_path)
    # 36 s per epoch + 72 s per evaluation every 10 epochs = 43.2 s/epoch
    assert math.isclose(g.hours_per_epoch(out), 43.2 / 3600)
    out['hours'] = 200 * g.hours_per_epoch(out)
    assert math.isclose(out['hours'], 2.4)
    md = g.markdown(out)
    assert 'Training and evaluation to the last epoch: 2.4 h' in md
    assert '| 200 | 0.0050 | 0.1200 | 0.0600 |' in md
    g.plot(out, out['png'])
    assert (tmp_path / 'g.png').stat().st_size > 0
