// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";

/// @title Wallet1271
/// @notice A smart-contract wallet that accepts its owner's ECDSA signatures (ERC-1271).
contract Wallet1271 is IERC1271 {
    address public immutable owner;

    constructor(address _owner) {
        owner = _owner;
    }

    function isValidSignature(bytes32 _hash, bytes calldata _signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(_hash, _signature);
        return
            err == ECDSA.RecoverError.NoError && signer == owner
                ? IERC1271.isValidSignature.selector
                : bytes4(0);
    }

    function exec(address _to, bytes calldata _data, uint256 _value) external payable {
        require(msg.sender == owner, "owner");
        (bool ok,) = _to.call{value: _value}(_data);
        require(ok, "call");
    }

    receive() external payable {}
}
