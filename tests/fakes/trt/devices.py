"""The machines the fakes can pretend to be, each identified the way the real one is.

- CUDA device name and compute capability: /work/shared/TENSORRT_API.md "GPU names" ("NVIDIA
  Tegra X1", "NVIDIA Tegra X2", "Xavier", "Orin"); fast FP16/INT8: its "Fast INT8" rule (Nano
  sm_53 and TX2 sm_62 have no fast INT8) and consumer Pascal (GTX 1080, sm_61) has no fast FP16.
- nvidia-smi: JetPack 6 (Orin) reports "Orin (nvgpu), 8.7, [N/A]"; JetPack 4.6 (Nano, TX2,
  Xavier) has no nvidia-smi; a desktop driver reports name, compute_cap and MiB.
- /proc/device-tree/model (NUL-terminated): "NVIDIA Jetson Nano Developer Kit" since L4T 32.2
  (NVIDIA-AI-IOT/jetcard#18); TX2 on L4T 32.x says "quill" (rbonghi/jetson_stats#387, L4T 32.4.4);
  AGX Xavier since L4T 32.2 says "Jetson-AGX" (adafruit/Adafruit_Python_PlatformDetect#37);
  AGX Orin on L4T 36 "NVIDIA Jetson AGX Orin Developer Kit". A desktop has no device tree.
- memory_mb: approximate totals (Nano 4 GB shared with the CPU, TX2 8 GB, AGX Xavier and AGX
  Orin 32 GB, GTX 1080 8 GB); tests lower the model's free_bytes to make memory short.
"""

from collections import namedtuple

Device = namedtuple("Device", "cuda_name compute_capability fast_fp16 fast_int8 memory_mb nvidia_smi device_tree")

DEVICES = {
    "nano": Device("NVIDIA Tegra X1", "5.3", True, False, 3964, None, "NVIDIA Jetson Nano Developer Kit"),
    "tx2": Device("NVIDIA Tegra X2", "6.2", True, False, 7850, None, "quill"),
    "xavier": Device("Xavier", "7.2", True, True, 31920, None, "Jetson-AGX"),
    "orin": Device("Orin", "8.7", True, True, 30536, "Orin (nvgpu), 8.7, [N/A]",
                   "NVIDIA Jetson AGX Orin Developer Kit"),
    "gtx1080": Device("NVIDIA GeForce GTX 1080", "6.1", False, True, 8192, "NVIDIA GeForce GTX 1080, 6.1, 8192",
                      None),
}
