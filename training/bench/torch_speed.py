"""The paper's three networks in PyTorch, timed on the same CPU as blankspot's trainer.

Prints one JSON line: seconds per epoch per 1000 images for each network. Used by
`npm run bench:train` as the side-by-side baseline; needs Debian's python3-torch.
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads, batch, images, epochs = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(0)


def cnn(leaky):
    act = nn.LeakyReLU(0.01) if leaky else nn.ReLU()
    return nn.Sequential(
        nn.Conv2d(1, 8, 5), act, nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 5), act, nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(13 * 13 * 8, 2))


nets = {
    "lr": nn.Sequential(nn.Flatten(), nn.Linear(64 * 64, 2)),
    "cnn-relu": cnn(False),
    "cnn-leaky": cnn(True),
}
x = torch.rand(images, 1, 64, 64)
y = torch.randint(0, 2, (images,))
out = {}
for name, net in nets.items():
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def epoch():
        for i in range(0, images, batch):
            opt.zero_grad()
            loss = F.cross_entropy(net(x[i:i + batch]), y[i:i + batch])
            loss.backward()
            opt.step()

    epoch()  # warm-up
    start = time.perf_counter()
    for _ in range(epochs):
        epoch()
    out[name] = (time.perf_counter() - start) / epochs * 1000 / images
print(json.dumps(out))
