//! The nonce check of the runtime: `CheckNonce`, plus the faucet's checks of every claim before the
//! pool admits it, and admission of a first claim from an account with no balance.

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

/// `frame_system::CheckNonce` plus the faucet's checks on `Faucet::claim`:
///
/// - every claim is checked as dispatch would check it ([`Pallet::ensure_can_claim`]), so the
///   pool admits no claim that would fail, and refuses one with the reason's custom code
///   ([`crate::ClaimRefusal::invalid_transaction`]) instead of charging a fee for a failure; an
///   admitted claim leaves the pool when its work expires;
/// - an eligible claim from an account that does not exist yet is admitted instead of being
///   refused for not paying for its nonce's storage: the claim itself brings the account into
///   existence.
///
/// It is invisible from outside: same identifier, encoding and metadata type as `CheckNonce`, so
/// wallets and subxt sign for it exactly as for `CheckNonce`.
///
/// Its weight is `CheckNonce`'s: the claim's checks read what the claim's benchmarked weight
/// already counts, and what they compute (one BLAKE2 hash) is negligible beside it.
#[derive(Encode, Decode, DecodeWithMemTracking, Clone, Eq, PartialEq)]
pub struct CheckNonceOrFirstClaim<T: Config>(pub CheckNonce<T>);

impl<T: Config> CheckNonceOrFirstClaim<T> {
	/// Checks that the transaction's nonce is `nonce`, as `CheckNonce::from`.
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
		let claim = match (call.is_sub_type(), origin.as_system_origin_signer()) {
			(Some(Call::claim { work }), Some(who)) => Some((who.clone(), *work)),
			_ => None,
		};
		let Some((who, work)) = claim else {
			let (validity, val, origin) =
				self.0.validate(origin, call, info, len, self_implicit, inherited_implication, source)?;
			return Ok((validity, Checked::Nonce(val), origin));
		};
		Pallet::<T>::ensure_can_claim(&who, &work).map_err(|refusal| refusal.invalid_transaction())?;
		let until_work_expires =
			ValidTransaction { longevity: Pallet::<T>::work_longevity(&work), ..Default::default() };
		let account = frame_system::Account::<T>::get(&who);
		// The case `CheckNonce` refuses: nobody pays for this account's storage.
		if account.providers.is_zero() && account.sufficients.is_zero() {
			let nonce = self.0 .0;
			if nonce < account.nonce {
				return Err(InvalidTransaction::Stale.into());
			}
			// An account that cannot pay gets no queue of future transactions.
			if nonce > account.nonce {
				return Err(InvalidTransaction::Future.into());
			}
			let validity =
				ValidTransaction { provides: alloc::vec![(who.clone(), nonce).encode()], ..Default::default() };
			return Ok((validity.combine_with(until_work_expires), Checked::FirstClaim(who), origin));
		}
		let (validity, val, origin) =
			self.0.validate(origin, call, info, len, self_implicit, inherited_implication, source)?;
		Ok((validity.combine_with(until_work_expires), Checked::Nonce(val), origin))
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
