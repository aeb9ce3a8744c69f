"""--fuse-preprocess: move the photometric part of preprocessing into the graph.

The fused model takes the uint8 BGR frame OpenCV gives, already resized and cropped to the spec
size, as NHWC; the graph does the layout change, colour swap, /255 and mean/std with the same
float32 arithmetic as `edge.bundle.preprocess.normalize` (x - mean*255) / (std*255). Resizing and
cropping stay on the host (`edge.bundle.preprocess.resize_and_crop`): they depend on the frame size.

TensorRT 8.2 (JetPack 4.6) has no uint8 network inputs: a fused bundle also carries the unfused
float-input models, from which the device builds its 8.2 engines (the runner then normalises on
the host).
"""

from edge.bundle.bundle import image_shape
from edge.bundle.schema import INPUT_FLOAT, INPUT_UINT8
from edge.util.lazy import require

TENSORRT_NOTE = ("--fuse-preprocess gives a uint8 input, which TensorRT 8.2 (JetPack 4.6, Nano/TX2) "
                 "cannot take: the bundle also carries float-input models for TensorRT 8.2 engines")


def fused_module(model, spec):
    """Wrap `model` (float NCHW in the spec's colour order) to take uint8 NHWC BGR."""
    torch = require("torch", "--fuse-preprocess")

    class FusedPreprocess(torch.nn.Module):
        def __init__(self, inner, spec):
            super().__init__()
            self.inner = inner
            self.swap_to_rgb = spec.color_order == "RGB"
            self.register_buffer("offset", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
            self.register_buffer("scale", torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)

        def forward(self, frames):
            # Cast first: TensorRT 8.5+ takes a uint8 input only straight into a Cast (no uint8
            # intermediate tensors, not even a Transpose's output).
            x = frames.to(torch.float32).permute(0, 3, 1, 2)
            if self.swap_to_rgb:
                x = x[:, [2, 1, 0], :, :]
            return self.inner((x - self.offset) / self.scale)

    wrapper = FusedPreprocess(model, spec).eval()
    if isinstance(model, torch.jit.ScriptModule):
        # A TorchScript model cannot be called inside a trace of a plain module; script the wrapper.
        return torch.jit.script(wrapper)
    return wrapper


def example_input(spec, batch=1, fused=False):
    """A zero tensor of the exported input's shape and dtype."""
    torch = require("torch", "ONNX export")
    shape = [batch] + image_shape(spec.size, INPUT_UINT8 if fused else INPUT_FLOAT)
    return torch.zeros(*shape, dtype=torch.uint8 if fused else torch.float32)
