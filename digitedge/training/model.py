"""SimpleCNN, exactly the paper's Table 1, with the input normalisation inside the graph."""

import torch
from torch import nn

# MNIST pixel statistics on [0, 1]; kept in the model so no consumer has to re-type them.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


class SimpleCNN(nn.Module):
    """conv 32/64/128 (3x3, pad 1) with two max-pools, then Linear 6272->128->10. 896,906 parameters.

    forward() takes pixels scaled to [0, 1], MNIST polarity (white digit on black), shape [N, 1, 28, 28],
    and returns logits [N, 10].
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)  # [N, 32, 28, 28]
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)  # [N, 64, 14, 14]
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)  # [N, 128, 7, 7]
        self.fc1 = nn.Linear(128 * 7 * 7, 128)  # 6272 -> 128
        self.fc2 = nn.Linear(128, 10)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = (x - MNIST_MEAN) / MNIST_STD
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = self.relu(self.conv3(x))
        x = self.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)
