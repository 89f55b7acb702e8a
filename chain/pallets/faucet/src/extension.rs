//! Nonce checking that lets an account with no balance make its first faucet claim.

use crate::{Call, Config, Pallet};
use codec::{Decode, DecodeWithMemTracking, Encode};
use frame_support::{dispatch::DispatchInfo, pallet_prelude::TransactionSource, traits::IsSubType};
use frame_system::CheckNonce;
use scale_info::{StaticTypeInfo, TypeInfo};
use sp_runtime::{
	traits::{
		AsSystemOriginSigner, DispatchInfoOf, Dispatchable, Implication, PostDispatchInfoOf, TransactionExtension,
		TransactionExtensionMetadata, ValidateResult, Zero,
	},
	transaction_validity::{InvalidTransaction, TransactionValidityError, ValidTransaction},
	DispatchResult, Weight,
};

/// `frame_system::CheckNonce`, except that an eligible `Faucet::claim` from an account that does
/// not exist yet is admitted instead of being refused for not paying for its nonce's storage: the
/// claim itself brings the account into existence.
///
/// It is invisible from outside: same identifier, encoding and metadata type as `CheckNonce`, so
/// wallets and subxt sign for it exactly as for `CheckNonce`.
#[derive(Encode, Decode, DecodeWithMemTracking, Clone, Eq, PartialEq)]
pub struct CheckNonceOrFirstClaim<T: Config>(pub CheckNonce<T>);

impl<T: Config> CheckNonceOrFirstClaim<T> {
	pub fn from(nonce: T::Nonce) -> Self {
		Self(CheckNonce::from(nonce))
	}
}

impl<T: Config> TypeInfo for CheckNonceOrFirstClaim<T>
where
	CheckNonce<T>: StaticTypeInfo,
{
	type Identity = CheckNonce<T>;
	fn type_info() -> scale_info::Type {
		CheckNonce::<T>::type_info()
	}
}

impl<T: Config> core::fmt::Debug for CheckNonceOrFirstClaim<T> {
	fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
		self.0.fmt(f)
	}
}

/// What `validate` decided: the ordinary nonce check, or a first claim by `who`.
pub enum Checked<Inner, AccountId> {
	Nonce(Inner),
	FirstClaim(AccountId),
}

impl<T> TransactionExtension<T::RuntimeCall> for CheckNonceOrFirstClaim<T>
where
	T: Config + Send + Sync,
	T::RuntimeCall: Dispatchable<Info = DispatchInfo> + IsSubType<Call<T>>,
	<T::RuntimeCall as Dispatchable>::RuntimeOrigin: AsSystemOriginSigner<T::AccountId> + Clone,
{
	const IDENTIFIER: &'static str = <CheckNonce<T> as TransactionExtension<T::RuntimeCall>>::IDENTIFIER;
	type Implicit = ();
	type Val = Checked<<CheckNonce<T> as TransactionExtension<T::RuntimeCall>>::Val, T::AccountId>;
	type Pre = Checked<<CheckNonce<T> as TransactionExtension<T::RuntimeCall>>::Pre, ()>;

	fn metadata() -> alloc::vec::Vec<TransactionExtensionMetadata> {
		<CheckNonce<T> as TransactionExtension<T::RuntimeCall>>::metadata()
	}

	fn weight(&self, call: &T::RuntimeCall) -> Weight {
		self.0.weight(call)
	}

	fn validate(
		&self,
		origin: <T::RuntimeCall as Dispatchable>::RuntimeOrigin,
		call: &T::RuntimeCall,
		info: &DispatchInfoOf<T::RuntimeCall>,
		len: usize,
		self_implicit: (),
		inherited_implication: &impl Implication,
		source: TransactionSource,
	) -> ValidateResult<Self::Val, T::RuntimeCall> {
		// The case `CheckNonce` refuses: nobody pays for this account's storage.
		let first_claim = origin.as_system_origin_signer().cloned().and_then(|who| {
			let account = frame_system::Account::<T>::get(&who);
			let eligible = matches!(call.is_sub_type(), Some(Call::claim {}))
				&& account.providers.is_zero()
				&& account.sufficients.is_zero()
				&& Pallet::<T>::ensure_can_claim(&who).is_ok();
			eligible.then_some((who, account.nonce))
		});
		match first_claim {
			Some((who, current)) => {
				let nonce = self.0 .0;
				if nonce < current {
					return Err(InvalidTransaction::Stale.into());
				}
				// An account that cannot pay gets no queue of future transactions.
				if nonce > current {
					return Err(InvalidTransaction::Future.into());
				}
				let validity =
					ValidTransaction { provides: alloc::vec![(who.clone(), nonce).encode()], ..Default::default() };
				Ok((validity, Checked::FirstClaim(who), origin))
			},
			None => {
				let (validity, val, origin) =
					self.0.validate(origin, call, info, len, self_implicit, inherited_implication, source)?;
				Ok((validity, Checked::Nonce(val), origin))
			},
		}
	}

	fn prepare(
		self,
		val: Self::Val,
		origin: &<T::RuntimeCall as Dispatchable>::RuntimeOrigin,
		call: &T::RuntimeCall,
		info: &DispatchInfoOf<T::RuntimeCall>,
		len: usize,
	) -> Result<Self::Pre, TransactionValidityError> {
		match val {
			Checked::Nonce(val) => self.0.prepare(val, origin, call, info, len).map(Checked::Nonce),
			Checked::FirstClaim(who) => {
				CheckNonce::<T>::prepare_nonce_for_account(&who, self.0 .0)?;
				Ok(Checked::FirstClaim(()))
			},
		}
	}

	fn post_dispatch_details(
		pre: Self::Pre,
		info: &DispatchInfoOf<T::RuntimeCall>,
		post_info: &PostDispatchInfoOf<T::RuntimeCall>,
		len: usize,
		result: &DispatchResult,
	) -> Result<Weight, TransactionValidityError> {
		match pre {
			Checked::Nonce(pre) => <CheckNonce<T> as TransactionExtension<T::RuntimeCall>>::post_dispatch_details(
				pre, info, post_info, len, result,
			),
			Checked::FirstClaim(()) => Ok(Weight::zero()),
		}
	}
}
