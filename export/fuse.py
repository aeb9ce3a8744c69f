"""Fused preprocessing (edge-export's default; --no-fuse-preprocess turns it off): the photometric part
of preprocessing moves into the graph.

The fused model takes the BGR frame OpenCV gives, already resized and cropped to the spec size, as
NHWC; the graph does the layout change, colour swap, /255 and mean/std with the same float32
arithmetic as `edge.bundle.preprocess.normalize` (x - mean*255) / (std*255). Resizing and cropping
stay on the host (`edge.bundle.preprocess.resize_and_crop`): they depend on the frame size.

The same wrapper makes both of a fused bundle's families: the uint8 frame (INPUT_UINT8, what ONNX
Runtime and TensorRT 8.5+ take), and the same frame as float32 holding its 0..255 values
(INPUT_PIXELS) for TensorRT 8.2 (JetPack 4.6), which has no uint8 network inputs: there the host
only widens uint8 to float32, and normalisation still runs in the engine.
"""

from edge.bundle.bundle import image_shape
from edge.bundle.schema import INPUT_FLOAT, INPUT_UINT8
from edge.util.lazy import require

FUSED_NOTE = ("fused preprocessing: the models take the resized BGR frame and normalise in-graph (uint8; "
              "for TensorRT 8.2, which has no uint8 inputs, float32 pixels the host only widens), each "
              "verified against the unfused PyTorch model; --no-fuse-preprocess exports the plain float input")
ONNX_NOTE = ("an ONNX input keeps its plain float input (normalised on the host): fusing the preprocessing "
             "wraps a PyTorch model")


def fused_module(model, spec):
    """Wrap `model` (float NCHW in the spec's colour order) to take NHWC BGR frames: uint8, or float32 holding
    0..255 (whichever the traced example input is)."""
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
            # intermediate tensors, not even a Transpose's output). A float32 input needs none.
            x = frames if frames.dtype == torch.float32 else frames.to(torch.float32)
            x = x.permute(0, 3, 1, 2)
            if self.swap_to_rgb:
                x = x[:, [2, 1, 0], :, :]
            return self.inner((x - self.offset) / self.scale)

    wrapper = FusedPreprocess(model, spec).eval()
    if isinstance(model, torch.jit.ScriptModule):
        # A TorchScript model cannot be called inside a trace of a plain module; script the wrapper.
        return torch.jit.script(wrapper)
    return wrapper


def example_input(spec, batch=1, input_format=INPUT_FLOAT):
    """A zero tensor of the shape and dtype of an input of `input_format` (edge.bundle.schema)."""
    torch = require("torch", "ONNX export")
    shape = [batch] + image_shape(spec.size, input_format)
    return torch.zeros(*shape, dtype=torch.uint8 if input_format == INPUT_UINT8 else torch.float32)
