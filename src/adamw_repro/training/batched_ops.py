"""The kernels of training.batched: one Conv1d and one train-mode BatchNorm1d for K members at once.

Training runs in the layout [K, C, L, B] (member, channel, position, sample), where a convolution is an im2col copy
and one bmm over the member axis and its output [K, C_out, L*B] is directly the rows BatchNorm reduces. Both
backward passes are written out here because torch's generic ones are slow on these shapes (unfold's backward, and
torch.var_mean / the native batch-norm statistics on a [1, K*C, N] input, are several times slower than the plain
passes below on one CPU thread).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class Conv(torch.autograd.Function):
    """Conv1d of every member: x [K, C, L, B] (or one shared [C, L, B]), w [K, C_out, C, k], b [K, C_out] or None
    -> [K, C_out, L_out*B]. Forward: im2col + one (b)mm; backward: (b)mms and col2im as k strided adds."""

    @staticmethod
    def forward(ctx, x, w, b, stride: int, padding: int):
        K, c_out, c_in, k = w.shape
        L, B = x.shape[-2:]
        L_out = (L + 2 * padding - k) // stride + 1
        cols = F.pad(x, (0, 0, padding, padding)).unfold(-2, k, stride)  # [.., C, L_out, B, k]
        cols = cols.movedim(-1, -3).reshape(*x.shape[:-3], c_in * k, L_out * B)  # [.., C*k, L_out*B]
        w2 = w.reshape(K, c_out, c_in * k)
        z = torch.matmul(w2, cols)  # a shared cols [C*k, N] folds into one mm
        if b is not None:
            z += b.unsqueeze(-1)
        ctx.save_for_backward(cols, w2)
        ctx.geometry = (x.shape, k, stride, padding, L_out)
        return z

    @staticmethod
    def backward(ctx, gz):
        cols, w2 = ctx.saved_tensors
        shape, k, stride, padding, L_out = ctx.geometry
        gx = gw = gb = None
        if ctx.needs_input_grad[1]:
            gw = torch.matmul(gz, cols.transpose(-1, -2)).view(w2.shape[0], w2.shape[1], -1, k)
        if ctx.needs_input_grad[2]:
            gb = gz.sum(-1)
        if ctx.needs_input_grad[0]:
            c_in, L, B = shape[-3:]
            gc = torch.bmm(w2.transpose(1, 2), gz).view(-1, c_in, k, L_out, B)
            gpad = gz.new_zeros(gc.shape[0], c_in, L + 2 * padding, B)
            for j in range(k):  # tap j of output l read (padded) input row stride*l + j
                gpad[:, :, j:j + stride * (L_out - 1) + 1:stride] += gc[:, :, j]
            gx = gpad[:, :, padding:padding + L]
            if len(shape) == 3:  # a shared input: its gradient sums over the members
                gx = gx.sum(0)
        return gx, gw, gb, None, None


class BatchNormTrain(torch.autograd.Function):
    """Train-mode BatchNorm of z [K, C, N] for every member and channel: normalized with its own batch mean and
    biased variance (two passes: the mean, then the centred sum of squares), scaled by gamma [K, C], shifted by
    beta [K, C]. Also returns the mean and the centred sum of squares [K, C] for the running statistics."""

    @staticmethod
    def forward(ctx, z, gamma, beta, eps: float):
        mean = z.mean(-1, keepdim=True)
        d = z - mean
        sum_sq = torch.linalg.vector_norm(d, dim=-1, keepdim=True).square_()
        invstd = torch.rsqrt(sum_sq / z.shape[-1] + eps)
        y = torch.addcmul(beta.unsqueeze(-1), d, invstd * gamma.unsqueeze(-1))
        ctx.save_for_backward(d, invstd, gamma)
        ctx.mark_non_differentiable(mean, sum_sq)
        return y, mean.squeeze(-1), sum_sq.squeeze(-1)

    @staticmethod
    def backward(ctx, gy, _mean, _sum_sq):
        d, invstd, gamma = ctx.saved_tensors
        n = d.shape[-1]
        g_beta = gy.sum(-1)
        g_d = torch.linalg.vecdot(gy, d)  # sum over the batch of gy * (z - mean)
        g_gamma = g_d * invstd.squeeze(-1)
        # dL/dz = gamma*invstd * (gy - mean(gy) - xhat * mean(gy * xhat)), xhat = (z - mean) * invstd
        a = gamma.unsqueeze(-1) * invstd
        gz = torch.addcmul(-a * g_beta.unsqueeze(-1) / n, gy, a)
        gz.addcmul_(d, -a * invstd.square() * g_d.unsqueeze(-1) / n)
        return gz, g_gamma, g_beta, None


@torch.no_grad()
def update_running(running_mean: torch.Tensor, running_var: torch.Tensor, tracked: torch.Tensor,
                   mean: torch.Tensor, sum_sq: torch.Tensor, n: int, momentum: float | None) -> None:
    """nn.BatchNorm1d's update of [K, C] running statistics from a batch of n values per channel, in place:
    num_batches_tracked += 1; running = (1 - f) * running + f * batch statistic, with the unbiased variance and
    f = momentum, or 1 / num_batches_tracked (the cumulative average) when momentum is None."""
    tracked += 1
    f = momentum if momentum is not None else (1.0 / tracked.to(mean.dtype)).unsqueeze(-1)
    running_mean.mul_(1 - f).add_(mean * f)  # f = 1 makes it the batch's exactly, as in nn
    running_var.mul_(1 - f).add_(sum_sq / (n - 1) * f)
