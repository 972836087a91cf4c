r"""Cached, symmetric-normalised sparse adjacency of a user-item bipartite
graph and every sparse product the models run on it.

This module owns all sparse propagation: the adjacency
(:class:`BipartiteAdjacency`, its edge-dropped copy
:class:`DroppedBipartiteAdjacency` and :func:`edge_dropout`), the products
(:func:`symmetric_spmm`, :func:`bipartite_spmm`,
:meth:`BipartiteAdjacency.propagate`,
:meth:`BipartiteAdjacency.propagate_layers`) and their autograd functions,
whose backwards multiply by the same (or the transposed) blocks and save
nothing but the adjacency."""
import warnings
from typing import Iterable, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.utils import coalesce


def _to_csr(index: Tensor, value: Tensor, size: tuple) -> Tensor:
    r"""Sparse CSR matrix with 32-bit indices when they fit: the CPU (MKL)
    sparse-dense product otherwise converts 64-bit indices on every call
    (measured 2.9x slower on the Amazon-Beauty blocks)."""
    coo = torch.sparse_coo_tensor(index, value, size,
                                  check_invariants=False).coalesce()
    with warnings.catch_warnings():  # "CSR support is in beta state"
        warnings.simplefilter('ignore', UserWarning)
        csr = coo.to_sparse_csr()
        if coo._nnz() < 2**31 - 1 and max(size) < 2**31 - 1:
            csr = torch.sparse_csr_tensor(csr.crow_indices().int(),
                                          csr.col_indices().int(),
                                          csr.values(), size,
                                          check_invariants=False)
    return csr


class BipartiteAdjacency:
    r"""The symmetric-normalised adjacency of a user-item bipartite graph,

    .. math::
        \tilde{\mathbf{A}} = \mathbf{D}^{-1/2}
        \begin{pmatrix} \mathbf{0} & \mathbf{R} \\
        \mathbf{R}^{\top} & \mathbf{0} \end{pmatrix} \mathbf{D}^{-1/2}
        = \begin{pmatrix} \mathbf{0} & \tilde{\mathbf{R}} \\
        \tilde{\mathbf{R}}^{\top} & \mathbf{0} \end{pmatrix},

    stored as its two off-diagonal CSR blocks :math:`\tilde{\mathbf{R}}`
    (:obj:`[U, I]`) and :math:`\tilde{\mathbf{R}}^{\top}` (:obj:`[I, U]`), both
    built once. A product :math:`\tilde{\mathbf{A}}\mathbf{X}` is two block
    products, each reading only the other side's rows of :math:`\mathbf{X}`
    (cache-friendlier than one :obj:`[N, N]` product, and about twice as fast
    on CPU). Because :math:`\tilde{\mathbf{A}}` is symmetric, the backward of
    :meth:`matmul` is the same product: no transpose is built during training.

    Args:
        user_item (torch.Tensor): :math:`\tilde{\mathbf{R}}` as sparse CSR.
        item_user (torch.Tensor): :math:`\tilde{\mathbf{R}}^{\top}` as sparse
            CSR.
    """
    def __init__(self, user_item: Tensor, item_user: Tensor) -> None:
        if user_item.shape[::-1] != item_user.shape:
            raise ValueError(f"blocks of shapes {tuple(user_item.shape)} and "
                             f"{tuple(item_user.shape)} are not transposes")
        self.user_item, self.item_user = user_item, item_user
        self.num_users, self.num_items = user_item.shape

    @classmethod
    def from_edges(cls, user: Tensor, item: Tensor, value: Tensor,
                   num_users: int, num_items: int) -> 'BipartiteAdjacency':
        r"""The two blocks of the (unique) user-item pairs :obj:`user`,
        :obj:`item` with weights :obj:`value`."""
        return cls(_to_csr(torch.stack([user, item]), value,
                           (num_users, num_items)),
                   _to_csr(torch.stack([item, user]), value,
                           (num_items, num_users)))

    @property
    def num_nodes(self) -> int:
        return self.num_users + self.num_items

    @property
    def device(self) -> torch.device:
        return self.user_item.device

    def to(self, device: Union[str, torch.device]) -> 'BipartiteAdjacency':
        return BipartiteAdjacency(self.user_item.to(device),
                                  self.item_user.to(device))

    @property
    def transpose(self) -> 'BipartiteAdjacency':
        r"""The transposed adjacency, by whose blocks the backward of
        :meth:`matmul` and of :func:`bipartite_spmm` multiplies: :obj:`self`,
        as :math:`\tilde{\mathbf{A}}` is symmetric."""
        return self

    def matmul(self, x: Tensor) -> Tensor:
        r""":math:`\tilde{\mathbf{A}}\mathbf{X}` for node features :obj:`x` of
        shape :obj:`[U + I, F]` (users first); differentiable in :obj:`x`."""
        return _SpMM.apply(self, self.transpose, x)

    def _mm(self, x: Tensor) -> Tensor:
        U = self.num_users
        if not _into_ok(self.user_item, x):
            return torch.cat(_block_mm(self, x[:U], x[U:]), dim=0)
        out = x.new_empty(self.num_nodes, x.size(1))
        _block_mm(self, x[:U], x[U:], out)
        return out

    def propagate(self, x: Tensor,
                  alpha: Sequence[float]) -> Tuple[Tensor, Tensor]:
        r"""The LightGCN layer combination
        :math:`\sum_{l=0}^{L} \alpha_l \tilde{\mathbf{A}}^l \mathbf{X}` with
        :math:`L` = :obj:`len(alpha) - 1`, returned as its user rows and its
        item rows. Fused: each layer is two block products and two scaled
        in-place accumulations (user and item halves never concatenated), and the
        backward runs the same products in Horner form,
        :math:`\nabla_{\mathbf{X}} = \alpha_0\mathbf{G} +
        \tilde{\mathbf{A}}(\alpha_1\mathbf{G} + \tilde{\mathbf{A}}(\dots))`,
        saving no intermediate layer."""
        return _Propagate.apply(self, x, tuple(float(a) for a in alpha))

    def propagate_layers(self, x: Tensor,
                         num_layers: int) -> Tuple[Tensor, Tensor]:
        r"""All layers :math:`\tilde{\mathbf{A}}^l\mathbf{X}`,
        :math:`l = 0, \dots, L` = :obj:`num_layers`, stacked as user
        :obj:`[U, L + 1, F]` and item :obj:`[I, L + 1, F]` tensors, written
        by blocks into the two outputs. The backward is the Horner scheme of
        :meth:`propagate` with each layer's own gradient,
        :math:`\nabla_{\mathbf{X}} = \mathbf{G}_0 +
        \tilde{\mathbf{A}}(\mathbf{G}_1 + \tilde{\mathbf{A}}(\dots))`,
        saving no layer."""
        return _PropagateLayers.apply(self, x, num_layers)

    def to_sparse(self) -> Tensor:
        r"""The full :obj:`[N, N]` matrix as a sparse COO tensor."""
        U, I = self.num_users, self.num_items
        r = self.user_item.to_sparse_coo().coalesce()
        row, col = r.indices()
        index = torch.cat([torch.stack([row, col + U]),
                           torch.stack([col + U, row])], dim=1)
        return torch.sparse_coo_tensor(index, r.values().repeat(2),
                                       (U + I, U + I)).coalesce()

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(users={self.num_users}, '
                f'items={self.num_items}, nnz={self.user_item._nnz()})')


class DroppedBipartiteAdjacency(BipartiteAdjacency):
    r"""A :class:`BipartiteAdjacency` whose entries were dropped independently
    in its two blocks (see :func:`edge_dropout`): no longer symmetric, so it
    carries its transpose :obj:`transpose` (same sparsity, other values), by
    which the backward of :meth:`matmul` and of :func:`bipartite_spmm`
    multiplies."""
    def __init__(self, user_item: Tensor, item_user: Tensor,
                 transpose: BipartiteAdjacency) -> None:
        super().__init__(user_item, item_user)
        self._transpose = transpose

    @property
    def transpose(self) -> BipartiteAdjacency:
        return self._transpose

    def to(self, device: Union[str, torch.device]
           ) -> 'DroppedBipartiteAdjacency':
        return DroppedBipartiteAdjacency(self.user_item.to(device),
                                         self.item_user.to(device),
                                         self._transpose.to(device))


def _into_ok(a: Tensor, x: Tensor) -> bool:
    r"""Whether :func:`_spmm` computes :math:`\mathbf{A}\mathbf{X}` into a
    given (uninitialised) output: for a CSR :obj:`a` on the CPU with MKL,
    unless the product itself must be differentiable (a double backward:
    :obj:`out=` takes no autograd). PyTorch's own CPU kernel, without MKL,
    scales the output by :obj:`beta` instead of ignoring it, so an
    uninitialised one could leak NaN there."""
    return (a.device.type == 'cpu' and a.layout == torch.sparse_csr
            and torch.backends.mkl.is_available()
            and not (torch.is_grad_enabled()
                     and (x.requires_grad or a.requires_grad)))


def _spmm(a: Tensor, x: Tensor, out: Optional[Tensor] = None) -> Tensor:
    r"""The sparse-dense product :math:`\mathbf{A}\mathbf{X}` of a sparse
    matrix :obj:`a`, written into :obj:`out` (a contiguous
    :obj:`[a.size(0), F]` tensor) when given. Where :func:`_into_ok`, it
    is :func:`torch.addmm` with :obj:`beta=0` into an uninitialised output:
    the same values as :func:`torch.sparse.mm` (bit for bit: the same MKL
    product, each output row written once, empty rows zero), without its
    zero-filled output (measured 1.4x faster per product on the
    Amazon-Beauty blocks, one thread: ``benchmarks/spmm_speed.py``);
    elsewhere :func:`torch.sparse.mm`."""
    if not _into_ok(a, x):
        y = torch.sparse.mm(a, x)
        return y if out is None else out.copy_(y)
    if out is None:
        out = x.new_empty(a.size(0), x.size(1))
    # (named for profiles: an addmm that is a sparse product)
    with torch.profiler.record_function('adar_pyg::sparse_mm'):
        return torch.addmm(out, a, x, beta=0, out=out)


def _block_mm(adj: BipartiteAdjacency, xu: Tensor, xi: Tensor,
              out: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    # One product by blocks: the user and item rows of A [x_u; x_i], i.e.
    # (user_item x_i, item_user x_u), written into the user and item rows of
    # the [U + I, F] tensor `out` when given.
    U = adj.num_users
    yu, yi = (None, None) if out is None else (out[:U], out[U:])
    return _spmm(adj.user_item, xi, yu), _spmm(adj.item_user, xu, yi)


def _mm(adj, x: Tensor) -> Tensor:
    if isinstance(adj, BipartiteAdjacency):
        return adj._mm(x)
    return torch.sparse.mm(adj, x)


def _horner(adj: BipartiteAdjacency, hu: Tensor, hi: Tensor,
            terms: Iterable[Tuple[Tensor, Tensor, float]]) -> Tensor:
    r"""The Horner-form backward shared by :class:`_Propagate` and
    :class:`_PropagateLayers`: the gradient of the :obj:`[U + I, F]` input
    of outputs built from the layers :math:`\tilde{\mathbf{A}}^l\mathbf{X}`.
    Starts from the deepest layer's term :math:`(\mathbf{H}_u,
    \mathbf{H}_i)`, runs :math:`\mathbf{H} \leftarrow
    \tilde{\mathbf{A}}\mathbf{H} + a\mathbf{G}` (in place) for each
    :obj:`(G_u, G_i, a)` of :obj:`terms`, shallower layers in turn, and
    returns :math:`[\mathbf{H}_u; \mathbf{H}_i]`. As
    :math:`\tilde{\mathbf{A}}` is symmetric, it multiplies by the same
    blocks as the forward."""
    terms = list(terms)
    # The last step's product is written into the rows of the result (no
    # concatenation), where the product takes an output (_into_ok):
    into = bool(terms) and _into_ok(adj.user_item, hu)
    out = hu.new_empty(adj.num_nodes, hu.size(1)) if into else None
    for k, (gu, gi, a) in enumerate(terms):
        hu, hi = _block_mm(adj, hu, hi, out if k == len(terms) - 1 else None)
        hu.add_(gu, alpha=a)
        hi.add_(gi, alpha=a)
    return out if into else torch.cat([hu, hi], dim=0)


class _SpMM(torch.autograd.Function):
    r""":math:`\mathbf{Y} = \tilde{\mathbf{A}}\mathbf{X}` for a sparse
    :math:`\tilde{\mathbf{A}}` (a :class:`BipartiteAdjacency` or a
    :obj:`torch.sparse` matrix) given with its transpose :obj:`adj_t` (the
    same object when symmetric, so no transpose is ever built): the backward
    is :math:`\tilde{\mathbf{A}}^{\top}\mathbf{G}`, and nothing but the
    (shared) matrix is saved."""
    @staticmethod
    def forward(ctx, adj, adj_t, x: Tensor) -> Tensor:  # type: ignore
        ctx.adj_t = adj_t
        return _mm(adj, x)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore
        adj_t = ctx.adj_t
        del ctx.adj_t
        return None, None, _mm(adj_t, grad_out.contiguous())


class _BlockSpMM(torch.autograd.Function):
    r""":func:`bipartite_spmm`: :math:`(\mathbf{Y}_u, \mathbf{Y}_i) =
    (\mathbf{R}\mathbf{X}_i, \mathbf{Q}\mathbf{X}_u)` by blocks, with the
    backward by the blocks :math:`(\mathbf{Q}^{\top}, \mathbf{R}^{\top})`
    of the transpose :obj:`adj_t`."""
    @staticmethod
    def forward(ctx, adj, adj_t, xu: Tensor,  # type: ignore
                xi: Tensor) -> Tuple[Tensor, Tensor]:
        ctx.adj_t = adj_t
        return _block_mm(adj, xu, xi)

    @staticmethod
    def backward(ctx, gu: Tensor, gi: Tensor):  # type: ignore
        adj_t = ctx.adj_t
        del ctx.adj_t
        # y_u = R x_i, y_i = Q x_u  =>  dx_u = Q^T g_i, dx_i = R^T g_u, and
        # the transpose's blocks are (Q^T, R^T).
        dxu, dxi = _block_mm(adj_t, gu.contiguous(), gi.contiguous())
        return None, None, dxu, dxi


class _Propagate(torch.autograd.Function):
    r""":meth:`BipartiteAdjacency.propagate`: :math:`\sum_{l=0}^{L} \alpha_l
    \tilde{\mathbf{A}}^l\mathbf{X}` as user and item rows."""
    @staticmethod
    def forward(ctx, adj: BipartiteAdjacency, x: Tensor,  # type: ignore
                alpha: Tuple[float, ...]) -> Tuple[Tensor, Tensor]:
        ctx.adj, ctx.alpha = adj, alpha
        xu, xi = x[:adj.num_users], x[adj.num_users:]
        out_u, out_i = xu * alpha[0], xi * alpha[0]
        for a in alpha[1:]:
            xu, xi = _block_mm(adj, xu, xi)
            out_u.add_(xu, alpha=a)
            out_i.add_(xi, alpha=a)
        return out_u, out_i

    @staticmethod
    def backward(ctx, grad_u: Tensor, grad_i: Tensor):  # type: ignore
        adj, alpha = ctx.adj, ctx.alpha
        del ctx.adj
        grad_u, grad_i = grad_u.contiguous(), grad_i.contiguous()
        # grad_X = a_0 G + A (a_1 G + A (... + A a_L G))
        return None, _horner(adj, grad_u * alpha[-1], grad_i * alpha[-1],
                             ((grad_u, grad_i, a)
                              for a in reversed(alpha[:-1]))), None


class _PropagateLayers(torch.autograd.Function):
    r""":meth:`BipartiteAdjacency.propagate_layers`: all layers
    :math:`\tilde{\mathbf{A}}^l\mathbf{X}`, :math:`l = 0..L`, as stacked
    user :obj:`[U, L + 1, F]` and item :obj:`[I, L + 1, F]` outputs; nothing
    but the (shared) adjacency is saved for the backward."""
    @staticmethod
    def forward(ctx, adj: BipartiteAdjacency, x: Tensor,  # type: ignore
                num_layers: int) -> Tuple[Tensor, Tensor]:
        ctx.adj = adj
        U, F = adj.num_users, x.size(1)
        xu, xi = x[:U], x[U:]
        out_u = x.new_empty(U, num_layers + 1, F)
        out_i = x.new_empty(x.size(0) - U, num_layers + 1, F)
        out_u[:, 0], out_i[:, 0] = xu, xi
        for layer in range(1, num_layers + 1):
            xu, xi = _block_mm(adj, xu, xi)
            out_u[:, layer], out_i[:, layer] = xu, xi
        return out_u, out_i

    @staticmethod
    def backward(ctx, grad_u: Tensor, grad_i: Tensor):  # type: ignore
        adj = ctx.adj
        del ctx.adj
        # grad_X = G_0 + A (G_1 + A (... + A G_L))
        return None, _horner(adj, grad_u[:, -1].contiguous(),
                             grad_i[:, -1].contiguous(),
                             ((grad_u[:, layer], grad_i[:, layer], 1)
                              for layer in range(grad_u.size(1) - 2, -1,
                                                 -1))), None


def symmetric_spmm(adj: Union[Tensor, BipartiteAdjacency], x: Tensor) -> Tensor:
    r"""Sparse-dense product :math:`\tilde{\mathbf{A}}\mathbf{X}` for a
    **symmetric** :obj:`adj` (a :class:`BipartiteAdjacency` or a square
    :obj:`torch.sparse` matrix; symmetry is not checked), differentiable in
    :obj:`x` through the same matrix."""
    return _SpMM.apply(adj, adj, x)


def bipartite_spmm(adj: BipartiteAdjacency, x_user: Tensor,
                   x_item: Tensor) -> Tuple[Tensor, Tensor]:
    r"""The product :math:`\tilde{\mathbf{A}}\mathbf{X}` by blocks: returns
    :math:`(\tilde{\mathbf{R}}\mathbf{X}_{\mathcal{I}},
    \tilde{\mathbf{R}}^{\top}\mathbf{X}_{\mathcal{U}})` for the user rows
    :obj:`x_user` and item rows :obj:`x_item`, differentiable in both; the
    backward multiplies by the same blocks (or, for a
    :class:`DroppedBipartiteAdjacency`, by those of its transpose)."""
    return _BlockSpMM.apply(adj, adj.transpose, x_user, x_item)


def transpose_perm(adj: BipartiteAdjacency) -> Tensor:
    r"""For each stored entry of :obj:`adj.item_user` (CSR order), the position
    of the same interaction in :obj:`adj.user_item`."""
    crow = adj.user_item.crow_indices().long()
    col = adj.user_item.col_indices().long()
    row = torch.repeat_interleave(
        torch.arange(adj.num_users, device=crow.device), crow.diff())
    return torch.argsort(col * adj.num_users + row)


def _with_values(csr: Tensor, values: Tensor) -> Tensor:
    return torch.sparse_csr_tensor(csr.crow_indices(), csr.col_indices(),
                                   values, csr.shape, check_invariants=False)


def edge_dropout(adj: BipartiteAdjacency, p: float,
                 perm: Optional[Tensor] = None) -> DroppedBipartiteAdjacency:
    r"""NGCF's node dropout as implemented in the reference code: every stored
    entry of the (symmetric) :obj:`adj` — each direction of an interaction
    independently — is zeroed with probability :obj:`p`, the others scaled by
    :math:`1/(1-p)`. Only values change; the sparsity structure is shared.

    Args:
        adj (BipartiteAdjacency): The normalised adjacency.
        p (float): Drop probability.
        perm (torch.Tensor, optional): :func:`transpose_perm` of :obj:`adj`
            (computed when not given).
    """
    if perm is None:
        perm = transpose_perm(adj)
    v_ui, v_iu = adj.user_item.values(), adj.item_user.values()
    scale = 1.0 / (1.0 - p)
    # Masks of the user->item and item->user entries, both in user_item order
    keep = (torch.rand((2, v_ui.numel()), device=v_ui.device) >= p)
    keep = keep.to(v_ui.dtype) * scale
    fwd_ui, back_ui = v_ui * keep[0], v_ui * keep[1]
    fwd_iu, back_iu = v_iu * keep[1][perm], v_iu * keep[0][perm]
    transpose = BipartiteAdjacency(_with_values(adj.user_item, back_ui),
                                   _with_values(adj.item_user, back_iu))
    return DroppedBipartiteAdjacency(_with_values(adj.user_item, fwd_ui),
                                     _with_values(adj.item_user, fwd_iu),
                                     transpose)


def bipartite_norm_adj(edge_index: Tensor, num_users: int, num_items: int,
                       dtype: torch.dtype = torch.float
                       ) -> BipartiteAdjacency:
    r"""Builds the symmetric-normalised adjacency
    :math:`\mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` of the user-item graph
    given by :obj:`edge_index` (row 0: user ids, row 1: item ids, both 0-based)
    as a :class:`BipartiteAdjacency`. Repeated pairs are merged (binary
    interactions); degrees count distinct neighbours.

    Args:
        edge_index (torch.Tensor): User-item edges of shape :obj:`[2, E]`.
        num_users (int): Number of users.
        num_items (int): Number of items.
        dtype (torch.dtype, optional): Type of the weights (that of the
            features it will multiply). (default: :obj:`torch.float`)
    """
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"'edge_index' must have shape [2, E] "
                         f"(got {list(edge_index.shape)})")
    if edge_index.numel() > 0:
        if int(edge_index[0].min()) < 0 or int(edge_index[0].max()) >= num_users:
            raise ValueError(f"user ids in 'edge_index' must lie in "
                             f"[0, {num_users - 1}]")
        if int(edge_index[1].min()) < 0 or int(edge_index[1].max()) >= num_items:
            raise ValueError(f"item ids in 'edge_index' must lie in "
                             f"[0, {num_items - 1}]")
    user, item = coalesce(edge_index.long(),
                          num_nodes=max(num_users, num_items))
    value = sym_norm(torch.bincount(user, minlength=num_users),
                     torch.bincount(item, minlength=num_items), user, item,
                     dtype)
    return BipartiteAdjacency.from_edges(user, item, value, num_users,
                                         num_items)


def sym_norm(deg_user: Tensor, deg_item: Tensor, user: Tensor, item: Tensor,
             dtype: torch.dtype = torch.float) -> Tensor:
    r"""The weight :math:`1/\sqrt{\deg(u)\deg(i)}` of each edge
    :obj:`(user, item)`, of type :obj:`dtype`, given the degrees of the
    users :obj:`deg_user` and the items :obj:`deg_item` (the symmetric
    normalisation of LightGCN's Eq. 3 and NGCF's)."""
    return deg_user[user].to(dtype).rsqrt() * deg_item[item].to(dtype).rsqrt()


def is_symmetric(adj: Tensor, atol: float = 1e-6) -> bool:
    r"""Checks whether a sparse matrix equals its transpose (for tests and
    debugging; densifies nothing)."""
    a = adj.to_sparse_coo().coalesce()
    b = a.t().coalesce()
    if not torch.equal(a.indices(), b.indices()):
        return False
    return bool(torch.allclose(a.values(), b.values(), atol=atol))


__all__ = [
    'BipartiteAdjacency', 'DroppedBipartiteAdjacency', 'bipartite_norm_adj',
    'symmetric_spmm', 'bipartite_spmm', 'edge_dropout', 'transpose_perm',
    'is_symmetric'
]
