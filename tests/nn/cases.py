"""The convolution case matrix that tests/nn checks and benchmarks/conv2d.py times.

Two families, each the full product of its axes:

- dense: channels 1->3, 2->9, 4->27, 8->81, 16->243 and the reverse 3->1 ... 243->16 (10 pairs)
  x kernels (1,1)..(7,7) and (1,3),(3,5),(5,7),(7,9),(3,1),(5,3),(7,5),(9,7) (15)
  x dilation 1..3 x stride 1..3 x bias on/off: 2,700 cases;
- grouped: groups 4, 8, 16, 32, 64 with 2g -> 3g channels (8->12 ... 128->192)
  x the same 15 kernels x dilation x stride x bias: 1,350 cases.

Padding cycles through (0, 0), (1, 2), (2, 1) from case to case, so every padding meets every
stride and bias value. Inputs are just big enough for 2 to 3 output pixels a side before padding
(H = dilated kernel + stride + 1, W = dilated kernel + 2 * stride): with a stride of 2 or 3 the
last input row is then in no window, the case that hand-written backward passes get wrong.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

CHANNELS = [(2**i, 3 ** (i + 1)) for i in range(5)] + [(3 ** (i + 1), 2**i) for i in range(5)]
SQUARE = [(k, k) for k in range(1, 8)]
RECTANGULAR = [(1, 3), (3, 5), (5, 7), (7, 9), (3, 1), (5, 3), (7, 5), (9, 7)]
KERNELS = SQUARE + RECTANGULAR
DILATIONS = (1, 2, 3)
STRIDES = (1, 2, 3)
GROUPS = (4, 8, 16, 32, 64)
PADDINGS = ((0, 0), (1, 2), (2, 1))


@dataclass(frozen=True)
class ConvCase:
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    stride: int
    dilation: int
    padding: tuple[int, int]
    groups: int
    bias: bool

    @property
    def family(self) -> str:
        """The benchmark's row: the channel pair, or the number of groups."""
        if self.groups > 1:
            return f"groups {self.groups} ({self.in_channels}->{self.out_channels})"
        return f"{self.in_channels}->{self.out_channels}"

    def input_size(self) -> tuple[int, int]:
        kh, kw = (self.dilation * (k - 1) + 1 for k in self.kernel)
        return kh + self.stride + 1, kw + 2 * self.stride

    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    def kwargs(self) -> dict:
        """Keyword arguments for `conv2d(x, w, b, **case.kwargs())`, automl's or torch's."""
        return {
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "groups": self.groups,
        }


def conv_cases() -> list[ConvCase]:
    """Every case, dense family first, in a fixed order."""
    channels = [(c_in, c_out, 1) for c_in, c_out in CHANNELS]
    channels += [(2 * g, 3 * g, g) for g in GROUPS]
    cases = []
    for (c_in, c_out, groups), kernel, dilation, stride, bias in itertools.product(
        channels, KERNELS, DILATIONS, STRIDES, (True, False)
    ):
        padding = PADDINGS[len(cases) % len(PADDINGS)]
        cases.append(ConvCase(c_in, c_out, kernel, stride, dilation, padding, groups, bias))
    return cases
