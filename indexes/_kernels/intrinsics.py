"""Low-level LLVM intrinsics for the graph kernels: software prefetch and float/int bitcasts.

Numba exposes neither, and both matter for graph search: prefetching the vectors of the
neighbours about to be scored hides part of the memory latency (as hnswlib does with
``_mm_prefetch``), and bitcasting a float32 distance to an order-preserving integer lets a
``(distance, slot)`` pair live in one int64 that sorts with a single comparison.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

_I8P = ir.IntType(8).as_pointer()
_I32 = ir.IntType(32)


def _emit_prefetch(builder, ptr) -> None:
    fnty = ir.FunctionType(ir.VoidType(), [_I8P, _I32, _I32, _I32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
    # read access (0), high temporal locality (3), data cache (1)
    builder.call(
        fn,
        [
            builder.bitcast(ptr, _I8P),
            ir.Constant(_I32, 0),
            ir.Constant(_I32, 3),
            ir.Constant(_I32, 1),
        ],
    )


@intrinsic
def prefetch2(typingctx, arr, i, j):
    """Hint the CPU to load the cache line holding ``arr[i, j]`` (no bounds check, no effect)."""
    if not isinstance(arr, types.Array) or arr.ndim != 2:
        return None
    sig = types.void(arr, i, j)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        inds = [
            context.cast(builder, args[1], signature.args[1], types.intp),
            context.cast(builder, args[2], signature.args[2], types.intp),
        ]
        ptr = cgutils.get_item_pointer2(
            context,
            builder,
            data=ary.data,
            shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides),
            layout=aryty.layout,
            inds=inds,
        )
        _emit_prefetch(builder, ptr)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def prefetch1(typingctx, arr, i):
    """Hint the CPU to load the cache line holding ``arr[i]`` (no bounds check, no effect)."""
    if not isinstance(arr, types.Array) or arr.ndim != 1:
        return None
    sig = types.void(arr, i)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        inds = [context.cast(builder, args[1], signature.args[1], types.intp)]
        ptr = cgutils.get_item_pointer2(
            context,
            builder,
            data=ary.data,
            shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides),
            layout=aryty.layout,
            inds=inds,
        )
        _emit_prefetch(builder, ptr)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def f32_bits(typingctx, x):
    """The IEEE-754 bit pattern of a float32, as int32."""
    if x != types.float32:
        return None
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


@intrinsic
def bits_f32(typingctx, x):
    """The float32 whose IEEE-754 bit pattern is the int32 ``x``."""
    if x != types.int32:
        return None
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def atomic_add(typingctx, arr, i, v):
    """Atomically add ``v`` to the int64 ``arr[i]`` and return its previous value.

    The work counter of dynamically scheduled parallel loops: threads take the next item
    from a shared counter, so a thread that the OS deschedules delays only its own item.
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype == types.int64):
        return None
    sig = types.int64(arr, i, v)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        inds = [context.cast(builder, args[1], signature.args[1], types.intp)]
        ptr = cgutils.get_item_pointer2(
            context,
            builder,
            data=ary.data,
            shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides),
            layout=aryty.layout,
            inds=inds,
        )
        val = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, val, "seq_cst")

    return sig, codegen
