//! The Burn backends slm runs on, and the device of each. Every command that builds a model picks its
//! device here.

use burn::prelude::Device;

use crate::error::{ModelError, Result};

/// A Burn backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Backend {
    /// Burn's flex, the fast CPU backend, with slm's fused kernels (the default).
    #[default]
    Flex,
    /// Burn's ndarray CPU backend (cargo feature `ndarray`).
    Ndarray,
    /// Burn's wgpu GPU backend: Vulkan, Metal or DX12 (cargo feature `wgpu`).
    Wgpu,
}

impl Backend {
    /// Its name, as recipes and flags spell it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
        }
    }

    /// Whether it computes on the CPU.
    pub fn is_cpu(self) -> bool {
        matches!(self, Backend::Flex | Backend::Ndarray)
    }

    /// Its default device (without autodiff).
    ///
    /// # Errors
    /// The backend was not compiled in (the message names the cargo feature).
    pub fn device(self) -> Result<Device> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            Backend::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[allow(unreachable_patterns)]
            other => Err(ModelError::BackendMissing(other.name())),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
