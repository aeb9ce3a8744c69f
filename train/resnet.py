"""ResNet-18/34/50/101/152 with state-dict keys identical to torchvision's.

torchvision is not a dependency (its registry wheels are CUDA builds that fail to import on a CPU
torch), so the architecture lives here; keys and shapes match `torchvision.models.resnetXX()`
exactly, so torchvision's published ImageNet checkpoints load with `strict=True`.
"""

import torch
from torch import nn

from edge.errors import EdgeError, first_line
from edge.bundle.finite import refuse_non_finite

# torchvision's IMAGENET1K_V1 checkpoints (the ones its `pretrained=True` used).
IMAGENET_URLS = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet34": "https://download.pytorch.org/models/resnet34-b627a593.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    "resnet101": "https://download.pytorch.org/models/resnet101-63fe2227.pth",
    "resnet152": "https://download.pytorch.org/models/resnet152-394f9c45.pth",
}


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)  # stride on the 3x3, as torchvision (ResNet v1.5)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers.extend(block(self.inplanes, planes) for _ in range(1, blocks))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def layer_groups(self):
        """The modules in groups from input to output, the head last: stem+layer1, layer2, layer3, layer4, fc
        (the trainer freezes all but the head first, and spreads learning rates across them)."""
        return [[self.conv1, self.bn1, self.layer1], [self.layer2], [self.layer3], [self.layer4], [self.fc]]


ARCHS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
    "resnet101": (Bottleneck, [3, 4, 23, 3]),
    "resnet152": (Bottleneck, [3, 8, 36, 3]),
}


def build_resnet(arch, num_classes):
    """An untrained ResNet of `arch` with a `num_classes` head."""
    if arch not in ARCHS:
        raise EdgeError("unknown architecture {!r}; choose one of {}".format(arch, ", ".join(ARCHS)))
    block, layers = ARCHS[arch]
    return ResNet(block, layers, num_classes=num_classes)


def load_backbone_weights(model, arch, weights):
    """Load ImageNet or local weights into `model`, keeping its own (new) classification head.

    weights: "none", "imagenet" (torchvision's checkpoint through torch.hub) or a file path
    holding a torchvision-layout state dict.
    """
    if weights in (None, "none"):
        return model
    if weights == "imagenet":
        state = imagenet_state_dict(arch)
    else:
        state = load_state_dict_file(weights)
    own = model.state_dict()
    # Everything but the classifier must match exactly; the head is new for the dataset's classes.
    backbone = {k: v for k, v in state.items() if not k.startswith("fc.")}
    expected = {k for k in own if not k.startswith("fc.")}
    missing = sorted(expected - set(backbone))
    unexpected = sorted(set(backbone) - expected)
    if missing or unexpected:
        raise EdgeError("weights {} do not fit {}: {} missing keys (e.g. {}), {} unexpected (e.g. {}); "
                        "check --arch".format(weights, arch, len(missing), missing[:2], len(unexpected),
                                              unexpected[:2]))
    for key, value in backbone.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise EdgeError("weights {} do not fit {}: {} has shape {}, expected {}; check --arch".format(
                weights, arch, key, tuple(value.shape), tuple(own[key].shape)))
    model.load_state_dict(backbone, strict=False)
    return model


def imagenet_state_dict(arch):
    """torchvision's ImageNet checkpoint for `arch`, through torch.hub's download cache.

    Loaded with weights_only=True: torch.hub skips the hash check for a file already in its
    cache, so a replaced cache file must not be able to run code.
    """
    import os
    import pickle

    url = IMAGENET_URLS[arch]
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=True, check_hash=True,
                                                  weights_only=True)
    except pickle.UnpicklingError:
        cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))
        raise EdgeError("the cached ImageNet checkpoint {} holds pickled objects, not plain weights; refused "
                        "for safety (delete it to download it again)".format(cached))
    except Exception as exc:  # URLError, HTTPError, socket errors, hash mismatch
        raise EdgeError("could not download ImageNet weights for {} ({}); without network, "
                        "pass --weights PATH to a local torchvision checkpoint or --weights none".format(
                            arch, first_line(exc, limit=None)))


def load_state_dict_file(path):
    """A torchvision-layout state dict from a file (plain state dict or {'state_dict': ...})."""
    import os
    import pickle

    if not os.path.isfile(str(path)):
        raise EdgeError("weights file {} not found".format(path))
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise EdgeError("{} holds pickled objects, not plain weights; refused for safety".format(path))
    except Exception as exc:  # foreign bytes fail in many ways (KeyError, EOFError, zip errors...)
        raise EdgeError("{} is not a loadable state dict ({})".format(path, type(exc).__name__))
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise EdgeError("{} does not hold a state dict of tensors".format(path))
    # Checkpoints saved from nn.DataParallel prefix every key with "module.".
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    # NaN/Inf weights would make every step NaN: refused, exit 3
    refuse_non_finite(path, [(k, v.detach().float().numpy()) for k, v in state.items() if v.is_floating_point()])
    return state
