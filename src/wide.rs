//! Hot loops compiled twice, for the processor's AVX2 instructions and for the x86-64
//! baseline (SSE2), chosen at run time: sensor boxes run the distributed binary, which
//! cannot assume AVX2, yet most have it, and it doubles the lanes of the loops that
//! compute distances and gradients. Written by hand on the standard library's
//! `is_x86_feature_detected!` and `#[target_feature]`: the `multiversion` crate does the
//! same through a procedural macro, for a dozen lines here. The results are the same
//! either way, since the code compiled twice does only element-wise arithmetic and sums
//! in a fixed order (no fused multiply-add, which would round differently).

/// Defines `fn NAME(ARGS) -> RET` running `BODY(ARGS)`, compiled for AVX2 when the
/// processor has it and else for the baseline. `BODY` must be `#[inline(always)]`, and so
/// must everything it calls that should use the wider instructions (a function that is
/// not inlined keeps its baseline code).
macro_rules! wide_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $body:path) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                #[target_feature(enable = "avx2")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                // SAFETY: the processor has AVX2, as just checked.
                return unsafe { avx2($($arg),*) };
            }
            $body($($arg),*)
        }
    };
}
