"""How to build telescoping NCP's bridges, measured outside the library on the closed-form chasm
of benchmarks/density_chasm.py (q = N(1.5, 0.3^2 I) against N(0, I) in 16 dimensions, KL 30
nats): one network with K heads (one pass gives every bridge) against one network taking the
bridge as a one-hot input (K passes), and evenly spaced mixing weights a_k = k / K against
a_k = sqrt(k / K); RMS error of log r on fresh q-samples and log E_q[r_hat / r] (log Z).

    python benchmarks/telescoping_design.py [STEPS]   # default 3000; docs/method.md used 2000
"""

import math
import sys
import time

import torch
import torch.nn.functional as F
from _results import write_results
from torch import nn

torch.set_num_threads(1)
D, S, MU = 16, 0.3, 1.5
mu = torch.full((D,), MU)


def q_sample(n):
    return mu + S * torch.randn(n, D)


def p_sample(n):
    return torch.randn(n, D)


def log_q(z):
    return (-0.5 * ((z - mu) / S) ** 2 - math.log(S) - 0.5 * math.log(2 * math.pi)).sum(-1)


def log_p(z):
    return (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)


kl = 0.5 * (D * S**2 + (mu**2).sum() - D - D * math.log(S**2))
print(f"KL(q||p) = {kl:.2f} nats")


class Net(nn.Module):
    """mode: 'input' (one-hot waymark input, K passes) or 'heads' (K outputs, one pass)."""

    def __init__(self, d, bridges=1, hidden=128, mode="heads"):
        super().__init__()
        self.bridges, self.mode = bridges, mode
        extra = bridges if (mode == "input" and bridges > 1) else 0
        out = bridges if mode == "heads" else 1
        self.body = nn.Sequential(
            nn.Linear(d + extra, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, out),
        )

    def bridge(self, z, k):
        if self.mode == "heads":
            return self.body(z)[:, k]
        if self.bridges == 1:
            return self.body(z).squeeze(-1)
        onehot = F.one_hot(torch.full((len(z),), k), self.bridges).float()
        return self.body(torch.cat([z, onehot], 1)).squeeze(-1)

    def forward(self, z):
        if self.mode == "heads":
            return self.body(z).sum(-1)
        return sum(self.bridge(z, k) for k in range(self.bridges))


def bce(real, fake):
    return F.binary_cross_entropy_with_logits(
        real, torch.ones_like(real)
    ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))


def train(net, alphas, steps, batch=512, lr=1e-3):
    opt = torch.optim.Adam(net.parameters(), lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        zq, zp = q_sample(batch), p_sample(batch)
        ways = [math.sqrt(1 - a * a) * zp + a * zq for a in alphas]  # ways[0] = zp, ways[-1] = zq
        loss = sum(
            bce(net.bridge(ways[k + 1], k), net.bridge(ways[k], k)) for k in range(len(alphas) - 1)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return net


def measure(net, n=100_000):
    with torch.no_grad():
        z = q_sample(n)
        err = net(z) - (log_q(z) - log_p(z))
        rms = err.pow(2).mean().sqrt().item()
        centred = (err - err.mean()).pow(2).mean().sqrt().item()
        logz = (torch.logsumexp(err, 0) - math.log(n)).item()
    return rms, centred, logz


steps = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
variants = [("single", 1, "heads", 1.0)]
variants += [(f"{m} K=4 pow={p}", 4, m, p) for m in ("heads", "input") for p in (0.5, 1.0)]
variants += [(f"heads K=8 pow={p}", 8, "heads", p) for p in (0.5, 1.0)]  # input: 8 passes
rows = []
for name, K, mode, power in variants:
    torch.manual_seed(0)
    t = time.time()
    alphas = [(k / K) ** power for k in range(K + 1)]
    net = train(Net(D, K, mode=mode), alphas, steps)
    rms, centred, logz = measure(net)
    print(
        f"{name:22s} rms {rms:7.3f} (centred {centred:6.3f}) logZ {logz:+8.3f} "
        f"{time.time() - t:4.0f}s",
        flush=True,
    )
    rows.append({"variant": name, "rms": rms, "rms_centred": centred, "log_z": logz})
write_results(
    "benchmarks/results/telescoping_design.json", torch.device("cpu"), steps=steps, rows=rows
)
